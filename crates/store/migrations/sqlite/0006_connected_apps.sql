-- The apps a patient connected (SMART on FHIR clients acting for a patient or a representative),
-- one row per record and client id: written at the app's first use on the record, its last use
-- refreshed at most about once a minute. A revoked app's tokens are refused on this record until
-- the holder allows it again: the check reads this row on every request of the app, on every node.
CREATE TABLE connected_apps (
    ins           TEXT    NOT NULL,
    client_id     TEXT    NOT NULL,
    -- The catalogue's name for the app at its last use, else the client id.
    name          TEXT    NOT NULL,
    -- The SMART scopes its last token was granted, space-separated.
    scopes        TEXT    NOT NULL,
    first_used_at INTEGER  NOT NULL,
    last_used_at  INTEGER  NOT NULL,
    revoked_at    INTEGER,
    -- The holder's reference (`iss#sub`) who revoked it.
    revoked_by    TEXT,
    PRIMARY KEY (ins, client_id)
);
