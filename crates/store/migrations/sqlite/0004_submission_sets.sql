-- IHE MHD submission sets (ITI-65 provides them, ITI-66 finds them): what one deposit brought
-- together. Codes and ids only; the set's title is clinical content, sealed under the patient's key.
CREATE TABLE submission_sets (
    id            TEXT    PRIMARY KEY,
    ins           TEXT    NOT NULL,
    unique_id     TEXT    NOT NULL UNIQUE,
    source_id     TEXT    NOT NULL,
    author        TEXT,
    author_family TEXT,
    author_given  TEXT,
    deposited_by  TEXT    NOT NULL,
    submitted_at  INTEGER NOT NULL,
    title_sealed  BLOB
);
CREATE INDEX submission_sets_by_patient ON submission_sets (ins, submitted_at);

-- The documents of a set, in the order the bundle listed them.
CREATE TABLE submission_set_documents (
    set_id      TEXT    NOT NULL REFERENCES submission_sets (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    document_id TEXT    NOT NULL,
    PRIMARY KEY (set_id, position)
);
CREATE INDEX submission_set_documents_by_document ON submission_set_documents (document_id);
