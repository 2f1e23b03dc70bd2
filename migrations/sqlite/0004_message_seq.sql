-- A stored message moves its conversation's `last_seq` to its own number. The post is
-- then one statement (number, access check and insert: see `post_in` in
-- src/store/shared.rs), which on SQLite needs no transaction around it.
CREATE TRIGGER messages_last_seq AFTER INSERT ON messages BEGIN
    UPDATE conversations SET last_seq = new.seq WHERE id = new.conversation_id AND last_seq < new.seq;
END;
