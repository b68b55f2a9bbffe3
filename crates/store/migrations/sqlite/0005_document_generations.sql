-- A patient's document changes: one row per insert, update or delete of one of their documents,
-- written by the database itself (triggers), so that no write path can forget it. Their count is
-- the patient's document generation: a node may keep a patient's document list in memory as
-- long as the count it read it at is still the count (see `documents.rs`, "the documents
-- cache"). Rows are only ever added: a concurrent writer never waits for another's (a counter
-- row would make every deposit for one patient wait for the previous one's commit).
CREATE TABLE document_changes (
    ins TEXT NOT NULL
);
CREATE INDEX document_changes_by_patient ON document_changes (ins);

INSERT INTO document_changes (ins) SELECT ins FROM documents;

CREATE TRIGGER documents_change_insert AFTER INSERT ON documents BEGIN
    INSERT INTO document_changes (ins) VALUES (NEW.ins);
END;

CREATE TRIGGER documents_change_update AFTER UPDATE ON documents BEGIN
    INSERT INTO document_changes (ins) VALUES (NEW.ins);
    INSERT INTO document_changes (ins) SELECT OLD.ins WHERE OLD.ins <> NEW.ins;
END;

CREATE TRIGGER documents_change_delete AFTER DELETE ON documents BEGIN
    INSERT INTO document_changes (ins) VALUES (OLD.ins);
END;
