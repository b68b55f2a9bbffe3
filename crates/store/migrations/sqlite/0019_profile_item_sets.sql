-- The items read from one document, stored as ONE row (issue 20's deposit cost): a 50-entry
-- synthesis took 50 rows and 150 index entries, most of a structured deposit's cost. The set's
-- items are numbered: an item's id is the set's id with its place in the last two bytes, so an id
-- still finds its item without an index entry per item. `items` holds, per item, its kind, who
-- recorded it and when, its effective date (what reading paths need, as in profile_items) and
-- its content sealed alone under the patient's key, bound to its own id. An item's status is not
-- stored: it is superseded when its document is, or while a correction that is not entered in
-- error names it (profile_items.replaces), else current. Rows of profile_items read from a
-- document before this migration keep being read as they are.
CREATE TABLE profile_item_sets (
    id       TEXT    PRIMARY KEY,
    document TEXT    NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ins      TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    items    BLOB    NOT NULL
);
CREATE INDEX profile_item_sets_of ON profile_item_sets (ins);
CREATE INDEX profile_item_sets_document ON profile_item_sets (document);
-- One live correction per item: two corrections of one version made at once cannot both land
-- (the second is refused as stale), whichever table holds the corrected item.
CREATE UNIQUE INDEX profile_items_corrected_once ON profile_items (replaces) WHERE replaces IS NOT NULL AND status <> 'entered-in-error';
