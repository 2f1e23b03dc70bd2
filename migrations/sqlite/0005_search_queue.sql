-- The search index leaves the post's transaction. FTS5 kept in step by triggers made
-- every post tokenise its body and write a new index segment inside its commit: a quarter
-- of the writer's time at 2,000 posts a second, and a tail on every acknowledgement. Now
-- a post only appends its id to `search_queue`; the search indexer (`SearchIndex` in
-- src/store/sqlite.rs) indexes what is queued into a database file of its own, in
-- batches, on a connection of its own, and a search first waits for the indexer to reach
-- what was queued when it started, so it still finds everything stored before it.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;

-- A message to (re)index, in commit order. `changed` marks an edit or a deletion, whose
-- earlier entry in the index must go first. Entries the indexer has passed are pruned.
CREATE TABLE search_queue (
    seq        INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    changed    INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER search_queue_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_queue (message_id) VALUES (new.id);
END;
CREATE TRIGGER search_queue_update AFTER UPDATE OF body, deleted_at ON messages BEGIN
    INSERT INTO search_queue (message_id, changed) VALUES (new.id, 1);
END;
CREATE TRIGGER search_queue_delete AFTER DELETE ON messages BEGIN
    INSERT INTO search_queue (message_id, changed) VALUES (old.id, 1);
END;
