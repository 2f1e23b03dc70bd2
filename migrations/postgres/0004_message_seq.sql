-- A stored message moves its conversation's `last_seq` to its own number. The post is
-- then one statement after taking the conversation's row (number, access check and
-- insert: see `post_in` in src/store/shared.rs), one round trip fewer.
CREATE FUNCTION messages_last_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET last_seq = NEW.seq WHERE id = NEW.conversation_id AND last_seq < NEW.seq;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_last_seq AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_last_seq();
