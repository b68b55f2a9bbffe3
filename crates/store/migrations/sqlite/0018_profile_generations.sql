-- The medical profile joins the record's generation (`document_changes`, migration 0005): a node
-- may then keep a record's sealed profile items in memory exactly as it keeps its document list,
-- as long as the count it read them at is still the count (`profile.rs`, "the profile cache").
-- Only direct items (no source document) are counted here: an item read from a document is
-- written, or changes status, only in a transaction that also writes its document (deposit,
-- replacement, deletion) or a direct item (a patient's correction, its withdrawal), which that
-- write counts. So a 50-entry deposit adds one change, not 51.
CREATE TRIGGER profile_items_change_insert AFTER INSERT ON profile_items WHEN NEW.source_document IS NULL BEGIN
    INSERT INTO document_changes (ins) VALUES (NEW.ins);
END;

CREATE TRIGGER profile_items_change_update AFTER UPDATE ON profile_items WHEN NEW.source_document IS NULL BEGIN
    INSERT INTO document_changes (ins) VALUES (NEW.ins);
END;

CREATE TRIGGER profile_items_change_delete AFTER DELETE ON profile_items WHEN OLD.source_document IS NULL BEGIN
    INSERT INTO document_changes (ins) VALUES (OLD.ins);
END;
