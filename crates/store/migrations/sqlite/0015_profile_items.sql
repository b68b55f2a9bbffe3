-- The medical profile (issue 20): one row per item — read from a CDA level 3 document's entries,
-- or entered directly by the patient or a professional. Only what reading paths need is in clear
-- (record, kind, origin, source document, who recorded it, when, status, version chain); what
-- the item says (code, text, value, dates as written) and its place in its source document are
-- sealed under the patient's key in `sealed` (bound to the item's id), so crypto-shredding the
-- record makes them unreadable. An item read from a document goes with it (ON DELETE CASCADE);
-- a replacement marks the replaced document's items 'superseded' in its own transaction.
CREATE TABLE profile_items (
    id              TEXT    PRIMARY KEY,
    ins             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    source_document TEXT    REFERENCES documents (id) ON DELETE CASCADE,
    recorded_by     TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    effective       INTEGER,
    status          TEXT    NOT NULL,
    replaces        TEXT,
    sealed          BLOB    NOT NULL
);
CREATE INDEX profile_items_of ON profile_items (ins, kind);
CREATE INDEX profile_items_source ON profile_items (source_document);
