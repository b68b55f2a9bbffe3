-- The enumeration guard (access rule 15), shared by every node: each record an actor opened
-- with the latest opening, and one row per actor that serializes their lookups (locked for the
-- check) and keeps whether they are in a throttling episode (the alert is raised once per
-- episode). Rows older than the window are purged by the retention sweep.
CREATE TABLE guard_actors (
    actor_ref  TEXT PRIMARY KEY,
    in_episode BOOLEAN NOT NULL
);

CREATE TABLE guard_openings (
    actor_ref TEXT NOT NULL,
    ins       TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    PRIMARY KEY (actor_ref, ins)
);
CREATE INDEX guard_openings_by_time ON guard_openings (opened_at);
