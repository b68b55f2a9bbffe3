-- An actor's own entries read from the latest back (a professional's "Mon activité"): a page is
-- a range scan of this index instead of a sort of everything the actor ever did.
CREATE INDEX entries_actor_idx ON ledger.entries (actor_ref, idx);
