-- A patient's document generation: bumped by the database itself on every insert, update or
-- delete of one of their documents, so that no write path can forget it. A node may keep a
-- patient's document list in memory as long as the generation it read it at is still current
-- (see `documents.rs`, "the documents cache").
CREATE TABLE document_generations (
    ins        TEXT    PRIMARY KEY,
    generation INTEGER NOT NULL
);

INSERT INTO document_generations (ins, generation) SELECT DISTINCT ins, 1 FROM documents WHERE true;

CREATE TRIGGER documents_generation_insert AFTER INSERT ON documents BEGIN
    INSERT INTO document_generations (ins, generation) VALUES (NEW.ins, 1)
        ON CONFLICT (ins) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER documents_generation_update AFTER UPDATE ON documents BEGIN
    INSERT INTO document_generations (ins, generation) VALUES (NEW.ins, 1)
        ON CONFLICT (ins) DO UPDATE SET generation = generation + 1;
    INSERT INTO document_generations (ins, generation) SELECT OLD.ins, 1 WHERE OLD.ins <> NEW.ins
        ON CONFLICT (ins) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER documents_generation_delete AFTER DELETE ON documents BEGIN
    INSERT INTO document_generations (ins, generation) VALUES (OLD.ins, 1)
        ON CONFLICT (ins) DO UPDATE SET generation = generation + 1;
END;
