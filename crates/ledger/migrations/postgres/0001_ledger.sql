-- The access ledger, in schema `ledger` (Carnet connects with search_path = ledger, so sqlx's
-- migration table for these files is ledger._sqlx_migrations). Append-only: rows are inserted in
-- one transaction per batch and never updated or deleted (the triggers refuse it; anyone who
-- drops them is caught by verify_store).
CREATE SCHEMA IF NOT EXISTS ledger;

-- One row per leaf; `entry` holds the canonical bytes the leaf hash covers.
CREATE TABLE ledger.entries (
    idx       BIGINT PRIMARY KEY,   -- leaf index, contiguous from 0
    at        BIGINT NOT NULL,      -- Unix ms
    ins       TEXT,
    actor_ref TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    outcome   TEXT   NOT NULL,
    entry     BYTEA  NOT NULL
);
CREATE INDEX entries_ins_at ON ledger.entries (ins, at) WHERE ins IS NOT NULL;
CREATE INDEX entries_actor_at ON ledger.entries (actor_ref, at);

-- Every complete perfect subtree: leaves [idx·2^level, (idx+1)·2^level). Level 0 = leaf hashes.
CREATE TABLE ledger.nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA  NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Every signed tree head (one per committed batch).
CREATE TABLE ledger.tree_heads (
    tree_size    BIGINT PRIMARY KEY,
    root         BYTEA  NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    signature    BYTEA  NOT NULL
);

CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END
$$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.nodes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER tree_heads_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
