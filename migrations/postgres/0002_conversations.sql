-- Conversations (group chats, threads, direct conversations), who they are addressed to,
-- messages with their per-conversation sequence, reactions, mentions, read markers, and
-- the full-text index.

CREATE TABLE conversations (
    id           BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('group', 'thread', 'direct')),
    -- A group's name, a thread's subject, '' for a direct conversation.
    title        TEXT NOT NULL,
    -- A closed thread or an archived group: read-only.
    locked       BOOLEAN NOT NULL,
    -- The newest message's sequence; bumped in the transaction that inserts it.
    last_seq     BIGINT NOT NULL,
    created_by   BIGINT NOT NULL REFERENCES accounts (id),
    created_at   BIGINT NOT NULL,
    -- 'workspace:low:high' for a direct conversation, so two accounts have one per workspace.
    direct_key   TEXT UNIQUE
);
CREATE INDEX conversations_workspace ON conversations (workspace_id, kind);

-- Members of a group (a conversation of kind 'group').
CREATE TABLE group_members (
    group_id   BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (group_id, account_id)
);
CREATE INDEX group_members_account ON group_members (account_id);

-- The groups a conversation is addressed to. A group's own chat is addressed to itself.
CREATE TABLE conversation_groups (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    group_id        BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, group_id)
);
CREATE INDEX conversation_groups_group ON conversation_groups (group_id);

-- The accounts a conversation is addressed to directly.
CREATE TABLE conversation_participants (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, account_id)
);
CREATE INDEX conversation_participants_account ON conversation_participants (account_id);

CREATE TABLE messages (
    id              BIGINT PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    author_id       BIGINT NOT NULL REFERENCES accounts (id),
    body            TEXT NOT NULL,
    reply_to        BIGINT,
    client_id       TEXT,
    created_at      BIGINT NOT NULL,
    edited_at       BIGINT,
    deleted_at      BIGINT,
    UNIQUE (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client_id ON messages (conversation_id, author_id, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE message_mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (message_id, account_id)
);

CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, account_id, emoji)
);

CREATE TABLE read_markers (
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (account_id, conversation_id)
);

-- Full-text search: a generated tsvector with a GIN index. The 'simple' configuration
-- (no stemming) because conversations mix languages.
-- Words are split on anything that is not a letter or digit, as SQLite's unicode61
-- tokenizer does, so both backends find the same messages.
ALTER TABLE messages ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED;
CREATE INDEX messages_tsv ON messages USING GIN (tsv);
