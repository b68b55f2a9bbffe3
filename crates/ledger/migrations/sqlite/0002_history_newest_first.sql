-- A record's history read from the latest entry back (the patient's pages): the index gives a
-- record's entries in leaf order (an SQLite index carries the rowid, here the leaf index), so a
-- page is a range scan instead of a sort of the whole record's history.
CREATE INDEX entries_ins_idx ON entries (ins, idx) WHERE ins IS NOT NULL;
