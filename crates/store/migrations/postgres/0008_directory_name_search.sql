-- The directory searched by family name: `name_key` is the name folded by
-- `carnet_domain::directory::name_key` (lower case, no accents, letters and digits only), written
-- with every upsert; rows saved before this column existed are filled in when the store opens.
-- `text_pattern_ops` lets `name_key LIKE 'pre%'` use the index whatever the database's collation.
ALTER TABLE professionals ADD COLUMN name_key TEXT;
CREATE INDEX professionals_name_key ON professionals (name_key text_pattern_ops);
