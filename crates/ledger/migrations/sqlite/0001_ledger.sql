-- The access ledger, in a database file of its own. Append-only: rows are inserted in one
-- transaction per batch and never updated or deleted (the triggers refuse it; anyone who drops
-- them is caught by verify_store).

-- One row per leaf; `entry` holds the canonical bytes the leaf hash covers.
CREATE TABLE entries (
    idx       INTEGER PRIMARY KEY,   -- leaf index, contiguous from 0
    at        INTEGER NOT NULL,      -- Unix ms
    ins       TEXT,
    actor_ref TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    entry     BLOB    NOT NULL
);
CREATE INDEX entries_ins_at ON entries (ins, at) WHERE ins IS NOT NULL;
CREATE INDEX entries_actor_at ON entries (actor_ref, at);

-- Every complete perfect subtree: leaves [idx·2^level, (idx+1)·2^level). Level 0 = leaf hashes.
CREATE TABLE nodes (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every signed tree head (one per committed batch).
CREATE TABLE tree_heads (
    tree_size    INTEGER PRIMARY KEY,
    root         BLOB    NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    signature    BLOB    NOT NULL
);

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER nodes_no_update BEFORE UPDATE ON nodes BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER nodes_no_delete BEFORE DELETE ON nodes BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER tree_heads_no_update BEFORE UPDATE ON tree_heads BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER tree_heads_no_delete BEFORE DELETE ON tree_heads BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
