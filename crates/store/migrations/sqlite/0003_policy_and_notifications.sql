-- The patient's access choices (authorizations, blocks, médecin traitant, extended rights,
-- representatives, oppositions) as the domain's PatientPolicy, in JSON. Not clinical content;
-- read on every decision. `version` makes saves optimistic.
CREATE TABLE patient_policies (
    ins        TEXT    PRIMARY KEY,
    policy     TEXT    NOT NULL,
    version    INTEGER  NOT NULL,
    updated_at INTEGER  NOT NULL
);

-- Emergency accesses (bris de glace, SAMU): time-limited, reviewed by a privacy officer.
CREATE TABLE emergency_accesses (
    id            TEXT    PRIMARY KEY,
    ins           TEXT    NOT NULL,
    actor_ref     TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    justification TEXT    NOT NULL,
    opened_at     INTEGER  NOT NULL,
    expires_at    INTEGER  NOT NULL
);
CREATE INDEX emergency_by_actor ON emergency_accesses (actor_ref, ins, expires_at);

-- The privacy officer's queue: emergency accesses and enumeration alerts. Ids and codes only.
CREATE TABLE review_items (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    ins          TEXT,
    actor_ref    TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    ledger_index INTEGER,
    opened_at    INTEGER  NOT NULL,
    status       TEXT    NOT NULL,
    notes        TEXT    NOT NULL,
    version      INTEGER  NOT NULL
);
CREATE INDEX review_by_status ON review_items (status, opened_at);

-- Who has already consulted a record (the first access of a professional is notified).
CREATE TABLE first_accesses (
    ins       TEXT    NOT NULL,
    actor_ref TEXT    NOT NULL,
    at        INTEGER  NOT NULL,
    PRIMARY KEY (ins, actor_ref)
);

-- How a patient wants to be told: the e-mail address and webhook URL are sealed under the
-- patient's key.
CREATE TABLE notification_preferences (
    ins            TEXT    PRIMARY KEY,
    email_sealed   BLOB,
    email_enabled  BOOLEAN NOT NULL,
    webhook_sealed BLOB,
    updated_at     INTEGER  NOT NULL
);

-- The durable outbox: written in the same transaction as what it tells of; delivered with
-- retries and backoff; nothing lost across a restart. Payloads hold ids, codes and names of
-- professionals, never clinical content.
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    ins             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER  NOT NULL,
    attempts        INTEGER  NOT NULL,
    next_attempt_at INTEGER  NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);

-- Professionals' e-mail (for the médecin traitant's notifications).
ALTER TABLE professionals ADD COLUMN email TEXT;
