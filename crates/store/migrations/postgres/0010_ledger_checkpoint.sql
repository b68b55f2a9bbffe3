-- The latest signed tree head of the ledger this store has seen. The ledger may grow past it;
-- it may never fall behind it (deleted, emptied, an older copy) nor hold another head at its
-- size (rewritten): Carnet checks this at every start and `carnet ledger verify` reports it.
CREATE TABLE ledger_checkpoint (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    tree_size    BIGINT NOT NULL,
    root         BYTEA NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    signature    BYTEA NOT NULL
);
