-- Records: one live record per INS; destroyed records remain as identity-less tombstones.
CREATE TABLE records (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    ins                  TEXT    NOT NULL,
    ins_kind             TEXT    NOT NULL,
    identity_status      TEXT    NOT NULL,
    birth_name           TEXT,
    birth_given_names    TEXT,
    birth_date           TEXT,
    sex                  TEXT,
    birthplace           TEXT,
    status               TEXT    NOT NULL,
    channel              TEXT    NOT NULL,
    created_by           TEXT    NOT NULL,
    creator_organisation TEXT,
    created_at           INTEGER NOT NULL,
    closed_at            INTEGER,
    close_reason         TEXT,
    destruction_due_at   INTEGER,
    destroyed_at         INTEGER,
    first_fed_at         INTEGER
);
CREATE UNIQUE INDEX records_live_ins ON records (ins) WHERE status <> 'destroyed';
CREATE INDEX records_due ON records (status, destruction_due_at);

CREATE TABLE professionals (
    rpps         TEXT    PRIMARY KEY,
    family_name  TEXT    NOT NULL,
    given_name   TEXT    NOT NULL,
    profession   TEXT    NOT NULL,
    specialty    TEXT,
    organisation TEXT,
    updated_at   INTEGER NOT NULL
);
