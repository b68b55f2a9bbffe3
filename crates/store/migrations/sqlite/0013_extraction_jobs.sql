-- The text extraction queue: one job per document, inserted in the transaction that inserts the
-- document (so a crash loses none), deleted with it. A worker claims due jobs with a lease
-- (`lease_owner`, `lease_until`): a node that dies mid-job leaves a lease that expires, and the job
-- is claimed again. `state`: 'pending', 'done' (the text is in derived_artifacts, kind 'text')
-- or 'unavailable' (`reason`: a stable code; `detail`: why, never document content).
CREATE TABLE extraction_jobs (
    document_id     TEXT    PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    reason          TEXT,
    detail          TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX extraction_jobs_due ON extraction_jobs (state, next_attempt_at);

-- Documents deposited before this migration are queued too.
INSERT INTO extraction_jobs (document_id, state, attempts, next_attempt_at, created_at)
SELECT id, 'pending', 0, submitted_at, submitted_at FROM documents;
