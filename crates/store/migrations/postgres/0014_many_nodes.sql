-- Periodic jobs that need to run on one node at a time (the retention sweep, the upload sweep):
-- the node that holds a job's lease runs it; another takes it over once the lease has ended,
-- so a node that died holding it delays the job by one lease at most.
CREATE TABLE job_leases (
    job          TEXT   PRIMARY KEY,
    holder       TEXT   NOT NULL,
    leased_until BIGINT NOT NULL
);

-- Why the ledger is not trusted, once a node found it so (its start-up check or its periodic
-- verification): the other nodes read it with their checkpoint and stop clinical work too. An
-- operator's acknowledged restore (`reset` of the checkpoint) removes it.
CREATE TABLE ledger_distrust (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    problem TEXT    NOT NULL,
    since   BIGINT  NOT NULL
);
