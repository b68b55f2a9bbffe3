-- A patient's data key, only ever stored wrapped by a master key. Deleting the row shreds the
-- patient's documents (crypto-shredding).
CREATE TABLE patient_keys (
    ins           TEXT    PRIMARY KEY,
    master_key_id TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Secrets of the service itself (e.g. the ledger's signing key seed), wrapped like patients'
-- keys and rewrapped with them on rotation.
CREATE TABLE service_keys (
    name          TEXT    PRIMARY KEY,
    master_key_id TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    created_at    INTEGER  NOT NULL
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
    practice_setting_system TEXT,
    practice_setting_code   TEXT,
    facility_type_system    TEXT,
    facility_type_code      TEXT,
    service_start INTEGER,
    service_end   INTEGER,
    mime_type     TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    author_family TEXT,
    author_given  TEXT,
    deposited_by  TEXT    NOT NULL,
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
CREATE INDEX documents_replaces ON documents (replaces);

-- Uploads in flight: written before the first blob byte, deleted in the transaction that
-- inserts the document. Whatever is left here at start was interrupted: its blob is deleted.
CREATE TABLE pending_uploads (
    document_id TEXT    PRIMARY KEY,
    started_at  INTEGER NOT NULL
);

-- Derived artifacts (extracted text, structured entries), sealed under the patient's key.
CREATE TABLE derived_artifacts (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    PRIMARY KEY (document_id, kind)
);
