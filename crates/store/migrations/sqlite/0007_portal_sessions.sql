-- People's sessions on the portal. The browser holds an opaque random id; only its SHA-256 is
-- kept here (hex), so a copy of this table signs nobody in. `actor` is the verified person as
-- JSON (the claims mapped at sign-in); `csrf_token` is compared with the one each form posts back.
-- `last_seen_at` is written at most about once a minute; expiry is computed from it and the
-- configured idle and absolute limits, and expired or revoked rows are purged by the sweep.
CREATE TABLE portal_sessions (
    id_hash      TEXT    PRIMARY KEY,
    actor        TEXT    NOT NULL,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER  NOT NULL,
    last_seen_at INTEGER  NOT NULL,
    -- The instants the session ends unless used (refreshed with last_seen_at), and at the latest.
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX portal_sessions_expiry ON portal_sessions (idle_expires_at);

-- A sign-in under way: what the portal must check when the identity provider sends the person
-- back (the PKCE verifier and the nonce), found by the SHA-256 of the `state` it sent. Used
-- once (deleted when the callback takes it), short-lived.
CREATE TABLE portal_sign_ins (
    state_hash    TEXT    PRIMARY KEY,
    nonce         TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    created_at    INTEGER  NOT NULL,
    expires_at    INTEGER  NOT NULL
);
