-- A patient's document generation: bumped by the database itself on every insert, update or
-- delete of one of their documents, so that no write path can forget it. A node may keep a
-- patient's document list in memory as long as the generation it read it at is still current
-- (see `documents.rs`, "the documents cache").
CREATE TABLE document_generations (
    ins        TEXT   PRIMARY KEY,
    generation BIGINT NOT NULL
);

INSERT INTO document_generations (ins, generation) SELECT DISTINCT ins, 1 FROM documents;

CREATE FUNCTION bump_document_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
        INSERT INTO document_generations AS g (ins, generation) VALUES (NEW.ins, 1)
            ON CONFLICT (ins) DO UPDATE SET generation = g.generation + 1;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO document_generations AS g (ins, generation) VALUES (OLD.ins, 1)
            ON CONFLICT (ins) DO UPDATE SET generation = g.generation + 1;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.ins IS DISTINCT FROM NEW.ins THEN
            INSERT INTO document_generations AS g (ins, generation) VALUES (OLD.ins, 1)
                ON CONFLICT (ins) DO UPDATE SET generation = g.generation + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER documents_generation AFTER INSERT OR UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION bump_document_generation();
