-- Conversations (group chats, threads, direct conversations), who they are addressed to,
-- messages with their per-conversation sequence, reactions, mentions, read markers, and
-- the full-text index.

CREATE TABLE conversations (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('group', 'thread', 'direct')),
    -- A group's name, a thread's subject, '' for a direct conversation.
    title        TEXT NOT NULL,
    -- A closed thread or an archived group: read-only.
    locked       INTEGER NOT NULL,
    -- The newest message's sequence; bumped in the transaction that inserts it.
    last_seq     INTEGER NOT NULL,
    created_by   INTEGER NOT NULL REFERENCES accounts (id),
    created_at   INTEGER NOT NULL,
    -- 'workspace:low:high' for a direct conversation, so two accounts have one per workspace.
    direct_key   TEXT UNIQUE
);
CREATE INDEX conversations_workspace ON conversations (workspace_id, kind);

-- Members of a group (a conversation of kind 'group').
CREATE TABLE group_members (
    group_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members (account_id);

-- The groups a conversation is addressed to. A group's own chat is addressed to itself.
CREATE TABLE conversation_groups (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, group_id)
);
CREATE INDEX conversation_groups_group ON conversation_groups (group_id);

-- The accounts a conversation is addressed to directly.
CREATE TABLE conversation_participants (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    added_at        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, account_id)
);
CREATE INDEX conversation_participants_account ON conversation_participants (account_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    author_id       INTEGER NOT NULL REFERENCES accounts (id),
    body            TEXT NOT NULL,
    reply_to        INTEGER,
    client_id       TEXT,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, author_id, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE message_mentions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, account_id)
);

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, account_id, emoji)
);

CREATE TABLE read_markers (
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (account_id, conversation_id)
);

-- Full-text search: an FTS5 index over message bodies, kept in step by triggers.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
