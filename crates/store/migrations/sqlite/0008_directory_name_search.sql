-- The directory searched by family name: `name_key` is the name folded by
-- `carnet_domain::directory::name_key` (lower case, no accents, letters and digits only), written
-- with every upsert; rows saved before this column existed are filled in when the store opens.
-- NOCASE lets SQLite answer `name_key LIKE 'pre%'` from the index (keys are lower case anyway).
ALTER TABLE professionals ADD COLUMN name_key TEXT COLLATE NOCASE;
CREATE INDEX professionals_name_key ON professionals (name_key);
