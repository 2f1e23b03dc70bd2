-- Invitations (into a workspace with a role, or as a guest into conversations), the
-- conversations each grants, the per-workspace cap on a lite user's conversations, and
-- the audit log. Tokens are kept only as SHA-256 digests.

ALTER TABLE workspaces ADD COLUMN lite_grant_limit BIGINT NOT NULL DEFAULT 5;

CREATE TABLE invitations (
    id           BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    -- The workspace role the invitation gives; NULL: a guest (conversations only).
    role         TEXT CHECK (role IS NULL OR role IN ('admin', 'manager', 'member', 'lite')),
    token_hash   BYTEA NOT NULL UNIQUE,
    message      TEXT NOT NULL,
    invited_by   BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    -- When the current link was sent (a resend replaces the token and moves this).
    sent_at      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked')),
    accepted_by  BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    closed_at    BIGINT
);
CREATE INDEX invitations_email ON invitations (email) WHERE state = 'pending';
CREATE INDEX invitations_workspace ON invitations (workspace_id, state);

-- The groups (membership) and threads (direct participation) an invitation grants.
CREATE TABLE invitation_grants (
    invitation_id   BIGINT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    PRIMARY KEY (invitation_id, conversation_id)
);
CREATE INDEX invitation_grants_conversation ON invitation_grants (conversation_id);

-- Who did what to whom, written in the transaction of the change it records. `seq`
-- orders entries (newest last); `id` is what the API shows.
CREATE TABLE audit_log (
    seq             BIGSERIAL PRIMARY KEY,
    id              BIGINT NOT NULL UNIQUE,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    at              BIGINT NOT NULL,
    actor_id        BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    action          TEXT NOT NULL,
    account_id      BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    email           TEXT,
    conversation_id BIGINT REFERENCES conversations (id) ON DELETE SET NULL,
    -- A JSON object with what else the action needs (a role change's roles, counts).
    detail          TEXT NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log (workspace_id, seq);
