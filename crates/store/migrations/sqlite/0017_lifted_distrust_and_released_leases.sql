-- Acknowledged restores of the ledger, counted. A node keeps the count under which it distrusted
-- the ledger: once the count has grown (a restore was acknowledged since), it lifts its distrust
-- and checks the ledger again; a finding made under an older count is never written back.
CREATE TABLE ledger_restores (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    acknowledged BIGINT  NOT NULL
);
INSERT INTO ledger_restores (id, acknowledged) VALUES (1, 0);

-- The node delivering a claimed notification, so that a node shutting down gives its claims back
-- at once instead of leaving them to the end of their lease. NULL once delivered or failed.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
