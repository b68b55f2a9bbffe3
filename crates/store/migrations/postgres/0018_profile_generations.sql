-- The medical profile joins the record's generation (`document_changes`, migration 0005): a node
-- may then keep a record's sealed profile items in memory exactly as it keeps its document list,
-- as long as the count it read them at is still the count (`profile.rs`, "the profile cache").
-- Only direct items (no source document) are counted here: an item read from a document is
-- written, or changes status, only in a transaction that also writes its document (deposit,
-- replacement, deletion) or a direct item (a patient's correction, its withdrawal), which that
-- write counts. So a 50-entry deposit adds one change, not 51.
CREATE FUNCTION note_profile_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO document_changes (ins) VALUES (OLD.ins);
    ELSE
        INSERT INTO document_changes (ins) VALUES (NEW.ins);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER profile_items_change_insert AFTER INSERT ON profile_items
    FOR EACH ROW WHEN (NEW.source_document IS NULL) EXECUTE FUNCTION note_profile_change();
CREATE TRIGGER profile_items_change_update AFTER UPDATE ON profile_items
    FOR EACH ROW WHEN (NEW.source_document IS NULL) EXECUTE FUNCTION note_profile_change();
CREATE TRIGGER profile_items_change_delete AFTER DELETE ON profile_items
    FOR EACH ROW WHEN (OLD.source_document IS NULL) EXECUTE FUNCTION note_profile_change();
