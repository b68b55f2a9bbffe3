-- A record's history read from the latest entry back (the patient's pages): a page is a range
-- scan of this index instead of a sort of the whole record's history.
CREATE INDEX entries_ins_idx ON ledger.entries (ins, idx) WHERE ins IS NOT NULL;
