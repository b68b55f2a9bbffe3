-- A patient's data key, only ever stored wrapped by a master key. Deleting the row shreds the
-- patient's documents (crypto-shredding).
CREATE TABLE patient_keys (
    ins           TEXT    PRIMARY KEY,
    master_key_id TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Queryable document metadata: codes, dates, ids, labels, hashes. The title is sealed.
CREATE TABLE documents (
    id            TEXT    PRIMARY KEY,
    ins           TEXT    NOT NULL,
    unique_id     TEXT    NOT NULL UNIQUE,
    class_system  TEXT    NOT NULL,
    class_code    TEXT    NOT NULL,
    type_system   TEXT    NOT NULL,
    type_code     TEXT    NOT NULL,
    format_system TEXT    NOT NULL,
    format_code   TEXT    NOT NULL,
    mime_type     TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    authored_at   INTEGER,
    submitted_at  INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    sha256        BLOB    NOT NULL,
    labels        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    archived      BOOLEAN NOT NULL,
    replaces      TEXT,
    title_sealed  BLOB
);
CREATE INDEX documents_by_patient ON documents (ins, submitted_at);

-- Derived artifacts (extracted text, structured entries), sealed under the patient's key.
CREATE TABLE derived_artifacts (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    PRIMARY KEY (document_id, kind)
);
