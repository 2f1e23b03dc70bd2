//! The portable SQL, written once and compiled into both backends: `sqlite.rs` and
//! `postgres.rs` each declare `mod shared` on this file, with `super::Db` naming their
//! sqlx database and `super::ThisStore` their store type. Only SQL that means the same on
//! SQLite and PostgreSQL belongs here (numbered `$n` parameters, `RETURNING`,
//! `ON CONFLICT`); anything else goes in the backend's own file.
//!
//! Transactions that must serialise against each other on one workspace first touch the
//! workspace's row (`lock_workspace`): on PostgreSQL that takes its row lock, on SQLite
//! all writes already go through one connection.

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::{Db, ThisStore};
use crate::crypto::TokenHash;
use crate::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, DisplayName, Email, InvitationId, InvitationState,
    MessageId, Role, WorkspaceId, WorkspaceName,
};
use crate::store::{
    AcceptOutcome, Acceptor, AccountRow, AccountStore, AuditRow, AuditStore, ConversationRow, ConversationStore,
    ConversationSummary, GrantRow, GroupRow, InvitationKey, InvitationRow, InvitationStore, MailRow, MailStore,
    MemberRow, MessageExtras, MessageRow, MessageStore, NewAudit, NewConversation, NewInvitation, NewMail, NewMessage,
    NewSignup, OnCommit, PersonRow, Posted, Refusal, Result, StoreError, Successor, WorkspaceRow, WorkspaceStore,
    parse_action, parse_kind, parse_role,
};

type DbRow = <Db as sqlx::Database>::Row;

const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.display_name, a.password_hash, a.created_at";

fn account(row: &DbRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: AccountId(row.try_get("id")?),
        email: Email::from_trusted(row.try_get("email")?),
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

const WORKSPACE_COLUMNS: &str = "w.id, w.name, w.seat_limit, w.lite_grant_limit, w.created_at, \
     (SELECT COUNT(*) FROM workspace_members s WHERE s.workspace_id = w.id AND s.role <> 'lite') AS seats_used";

fn workspace(row: &DbRow) -> Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        id: WorkspaceId(row.try_get("id")?),
        name: row.try_get("name")?,
        seat_limit: row.try_get::<i64, _>("seat_limit")? as u32,
        seats_used: row.try_get::<i64, _>("seats_used")? as u32,
        lite_grant_limit: row.try_get::<i64, _>("lite_grant_limit")? as u32,
        created_at: row.try_get("created_at")?,
    })
}

/// Serialises writers on one workspace for the rest of the transaction; `NotFound` if
/// it does not exist.
async fn lock_workspace(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<()> {
    let done = sqlx::query("UPDATE workspaces SET seat_limit = seat_limit WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Takes the row locks of the conversations matching `condition` (on `$1`): a removal
/// holds them so that a concurrent post either commits before it or sees the removal.
/// PostgreSQL takes them in id order, the order a batch of posts takes them in
/// (`commit_posts`), so neither ever waits for the other in a cycle.
async fn lock_conversations(tx: &mut Transaction<'_, Db>, condition: &str, value: i64) -> Result<()> {
    let sql = match super::ROW_LOCK {
        Some(lock) => format!("SELECT id FROM conversations WHERE {condition} ORDER BY id {lock}"),
        None => format!("UPDATE conversations SET last_seq = last_seq WHERE {condition}"),
    };
    sqlx::query(&sql).bind(value).execute(&mut **tx).await?;
    Ok(())
}

/// Takes `conversation`'s row for a change by `caller` (so that a removal either commits
/// before the change or after it), then checks that the caller still sees it —
/// `NotFound` otherwise — and, with `open`, that it is not closed (`Locked`). The check is
/// a statement of its own after the lock, for the reason given in `post_in`.
async fn take_for_change(
    tx: &mut Transaction<'_, Db>,
    conversation: ConversationId,
    caller: AccountId,
    open: bool,
) -> Result<()> {
    lock_conversations(tx, "id = $1", conversation.0).await?;
    match locked_if_visible(tx, caller, conversation).await? {
        None => Err(StoreError::NotFound),
        Some(true) if open => Err(StoreError::Locked),
        Some(_) => Ok(()),
    }
}

/// Whether `conversation` is closed, if `caller` can see it (`None`: as if it did not exist).
async fn locked_if_visible(
    conn: &mut <Db as sqlx::Database>::Connection,
    caller: AccountId,
    conversation: ConversationId,
) -> Result<Option<bool>> {
    let row = sqlx::query(&format!(
        "SELECT c.locked FROM conversations c WHERE c.id = $2 AND c.id IN ({})",
        visible_ids("$1")
    ))
    .bind(caller.0)
    .bind(conversation.0)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get::<bool, _>("locked")).transpose()?)
}

async fn seats_used(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM workspace_members WHERE workspace_id = $1 AND role <> 'lite'")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("n")?)
}

async fn seat_limit(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query("SELECT seat_limit FROM workspaces WHERE id = $1").bind(id.0).fetch_one(&mut **tx).await?;
    Ok(row.try_get("seat_limit")?)
}

async fn owners(tx: &mut Transaction<'_, Db>, id: WorkspaceId) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("n")?)
}

async fn role_in(tx: &mut Transaction<'_, Db>, ws: WorkspaceId, account: AccountId) -> Result<Option<Role>> {
    let row = sqlx::query("SELECT role FROM workspace_members WHERE workspace_id = $1 AND account_id = $2")
        .bind(ws.0)
        .bind(account.0)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| parse_role(&r.try_get::<String, _>("role")?)).transpose()
}

/// Records an audit entry in the transaction of the change it describes.
async fn record(tx: &mut Transaction<'_, Db>, a: &NewAudit) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, workspace_id, at, actor_id, action, account_id, email, conversation_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id)
    .bind(a.workspace_id.0)
    .bind(a.at)
    .bind(a.actor.map(|x| x.0))
    .bind(a.action.as_str())
    .bind(a.account.map(|x| x.0))
    .bind(&a.email)
    .bind(a.conversation.map(|x| x.0))
    .bind(&a.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// SQL counting the groups of workspace `ws` that `account` belongs to plus the threads
/// of it that `account` is addressed to directly: what the lite limit counts.
fn grants_sql(account: &str, ws: &str) -> String {
    format!(
        "((SELECT COUNT(*) FROM group_members gg JOIN conversations gc ON gc.id = gg.group_id \
            WHERE gg.account_id = {account} AND gc.workspace_id = {ws}) \
         + (SELECT COUNT(*) FROM conversation_participants gp JOIN conversations tc ON tc.id = gp.conversation_id \
            WHERE gp.account_id = {account} AND tc.workspace_id = {ws} AND tc.kind = 'thread'))"
    )
}

/// `LiteLimitReached` if `account` is a lite member of the workspace holding more
/// grants than its limit. Run after the change, inside its transaction, with the
/// workspace locked, so concurrent grants cannot both pass.
async fn check_lite_limit(tx: &mut Transaction<'_, Db>, ws: WorkspaceId, account: AccountId) -> Result<()> {
    let row = sqlx::query(&format!(
        "SELECT w.lite_grant_limit AS lim, {} AS n FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.workspace_id = $1 AND m.account_id = $2 AND m.role = 'lite'",
        grants_sql("$2", "$1")
    ))
    .bind(ws.0)
    .bind(account.0)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = row
        && row.try_get::<i64, _>("n")? > row.try_get::<i64, _>("lim")?
    {
        return Err(StoreError::LiteLimitReached);
    }
    Ok(())
}

/// The workspace and kind of a conversation; `NotFound` if it does not exist.
async fn workspace_and_kind(
    tx: &mut Transaction<'_, Db>,
    id: ConversationId,
) -> Result<(WorkspaceId, ConversationKind)> {
    let row = sqlx::query("SELECT workspace_id, kind FROM conversations WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((WorkspaceId(row.try_get("workspace_id")?), parse_kind(&row.try_get::<String, _>("kind")?)?))
}

/// Gives `account` a conversation: membership of a group, participation in a thread.
/// `false` if it had it already.
async fn grant(
    tx: &mut Transaction<'_, Db>,
    c: ConversationId,
    kind: ConversationKind,
    account: AccountId,
    now: i64,
) -> Result<bool> {
    let sql = match kind {
        ConversationKind::Group => {
            "INSERT INTO group_members (group_id, account_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        }
        _ => {
            "INSERT INTO conversation_participants (conversation_id, account_id, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        }
    };
    let done = sqlx::query(sql).bind(c.0).bind(account.0).bind(now).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

/// Takes a conversation from `account` (the opposite of [`grant`]); `false` if it did
/// not have it. The conversation's row, and for a group the rows of every conversation
/// addressed to it, are locked first, so no post by `account` commits after this.
async fn ungrant(
    tx: &mut Transaction<'_, Db>,
    c: ConversationId,
    kind: ConversationKind,
    account: AccountId,
) -> Result<bool> {
    let sql = match kind {
        ConversationKind::Group => {
            lock_conversations(tx, "id IN (SELECT conversation_id FROM conversation_groups WHERE group_id = $1)", c.0)
                .await?;
            "DELETE FROM group_members WHERE group_id = $1 AND account_id = $2"
        }
        _ => {
            lock_conversations(tx, "id = $1", c.0).await?;
            "DELETE FROM conversation_participants WHERE conversation_id = $1 AND account_id = $2"
        }
    };
    let done = sqlx::query(sql).bind(c.0).bind(account.0).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

/// `ungrant` in a transaction of its own, with the removal's audit entry if it took anything.
async fn ungrant_recorded(
    pool: &sqlx::Pool<Db>,
    c: ConversationId,
    kind: ConversationKind,
    account: AccountId,
    audit: &NewAudit,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let removed = ungrant(&mut tx, c, kind, account).await?;
    if removed {
        record(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// Accepts every live guest invitation to `email` for `account` (just created): grants
/// their conversations and records each acceptance. Returns the conversations granted.
async fn activate_guest_invitations(
    tx: &mut Transaction<'_, Db>,
    email: &str,
    account: AccountId,
    now: i64,
) -> Result<Vec<ConversationId>> {
    let claimed = sqlx::query(
        "UPDATE invitations SET state = 'accepted', accepted_by = $2, closed_at = $3 \
         WHERE email = $1 AND state = 'pending' AND role IS NULL AND expires_at > $3 RETURNING id, workspace_id",
    )
    .bind(email)
    .bind(account.0)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let mut gained = Vec::new();
    for row in claimed {
        let id: i64 = row.try_get("id")?;
        let ws = WorkspaceId(row.try_get("workspace_id")?);
        let grants = invitation_grants(tx, id).await?;
        for &(c, kind) in &grants {
            grant(tx, c, kind, account, now).await?;
            gained.push(c);
        }
        let mut audit = NewAudit::new(ws, account, AuditAction::InvitationAccepted)
            .account(account)
            .email(email)
            .detail(serde_json::json!({"invitation_id": id.to_string(), "role": null, "grants": grants.len()}));
        audit.at = now;
        record(tx, &audit).await?;
    }
    Ok(gained)
}

async fn invitation_grants(tx: &mut Transaction<'_, Db>, id: i64) -> Result<Vec<(ConversationId, ConversationKind)>> {
    let rows = sqlx::query(
        "SELECT c.id, c.kind FROM invitation_grants ig JOIN conversations c ON c.id = ig.conversation_id \
         WHERE ig.invitation_id = $1 ORDER BY c.id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(|r| Ok((ConversationId(r.try_get("id")?), parse_kind(&r.try_get::<String, _>("kind")?)?))).collect()
}

#[async_trait]
impl AccountStore for ThisStore {
    async fn create_signup(&self, s: NewSignup) -> Result<()> {
        sqlx::query(
            "INSERT INTO signups (token_hash, email, display_name, password_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.token_hash.0)
        .bind(s.email.as_str())
        .bind(s.display_name.as_str())
        .bind(s.password_hash)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn complete_signup(&self, token: &TokenHash, now: i64, new_id: AccountId) -> Result<Option<AccountRow>> {
        let mut tx = self.writer().begin().await?;
        let Some(signup) = sqlx::query(
            "DELETE FROM signups WHERE token_hash = $1 RETURNING email, display_name, password_hash, expires_at",
        )
        .bind(&token.0)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        if signup.try_get::<i64, _>("expires_at")? <= now {
            tx.commit().await?;
            return Ok(None);
        }
        let email: String = signup.try_get("email")?;
        let created = sqlx::query(
            "INSERT INTO accounts (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(new_id.0)
        .bind(&email)
        .bind(signup.try_get::<String, _>("display_name")?)
        .bind(signup.try_get::<String, _>("password_hash")?)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM signups WHERE email = $1").bind(&email).execute(&mut *tx).await?;
        activate_guest_invitations(&mut tx, &email, new_id, now).await?;
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"))
            .bind(new_id.0)
            .fetch_one(&mut *tx)
            .await?;
        let account = account(&row)?;
        tx.commit().await?;
        Ok(Some(account))
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"))
            .bind(email.as_str())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(account).transpose()
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(account).transpose()
    }

    async fn set_display_name(&self, id: AccountId, name: &DisplayName) -> Result<()> {
        let done = sqlx::query("UPDATE accounts SET display_name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(id.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn set_password(&self, id: AccountId, password_hash: &str, keep: Option<&TokenHash>) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // An empty digest matches no session, so `None` deletes them all.
        let keep = keep.map(|t| t.0.clone()).unwrap_or_default();
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
            .bind(id.0)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, token: &TokenHash, account: AccountId, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&token.0)
            .bind(account.0)
            .bind(now)
            .bind(expires_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn session_account(&self, token: &TokenHash, now: i64) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(&token.0)
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(account).transpose()
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(&token.0).execute(self.writer()).await?;
        Ok(())
    }

    async fn delete_sessions(&self, account: AccountId) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(account.0).execute(self.writer()).await?;
        Ok(())
    }

    async fn reset_is_live(&self, token: &TokenHash, now: i64) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS x FROM password_resets WHERE token_hash = $1 AND expires_at > $2")
            .bind(&token.0)
            .bind(now)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }

    async fn create_reset(&self, token: &TokenHash, account: AccountId, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&token.0)
        .bind(account.0)
        .bind(now)
        .bind(expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn complete_reset(&self, token: &TokenHash, now: i64, password_hash: &str) -> Result<Option<AccountId>> {
        let mut tx = self.writer().begin().await?;
        let Some(reset) =
            sqlx::query("DELETE FROM password_resets WHERE token_hash = $1 RETURNING account_id, expires_at")
                .bind(&token.0)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let account = AccountId(reset.try_get("account_id")?);
        if reset.try_get::<i64, _>("expires_at")? <= now {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1").bind(account.0).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM password_resets WHERE account_id = $1").bind(account.0).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(account))
    }
}

#[async_trait]
impl WorkspaceStore for ThisStore {
    async fn create_workspace(
        &self,
        id: WorkspaceId,
        name: &WorkspaceName,
        owner: AccountId,
        seat_limit: u32,
        lite_grant_limit: u32,
        now: i64,
    ) -> Result<WorkspaceRow> {
        let mut tx = self.writer().begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, seat_limit, lite_grant_limit, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.0)
        .bind(name.as_str())
        .bind(i64::from(seat_limit))
        .bind(i64::from(lite_grant_limit))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, account_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
        )
        .bind(id.0)
        .bind(owner.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WorkspaceRow {
            id,
            name: name.as_str().to_owned(),
            seat_limit,
            seats_used: 1,
            lite_grant_limit,
            created_at: now,
        })
    }

    async fn workspace(&self, id: WorkspaceId) -> Result<Option<WorkspaceRow>> {
        let row = sqlx::query(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(workspace).transpose()
    }

    async fn workspaces_of(&self, account: AccountId) -> Result<Vec<(WorkspaceRow, Role)>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS}, m.role FROM workspace_members m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = $1 ORDER BY w.name, w.id"
        ))
        .bind(account.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok((workspace(r)?, parse_role(&r.try_get::<String, _>("role")?)?))).collect()
    }

    async fn member_role(&self, workspace: WorkspaceId, account: AccountId) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM workspace_members WHERE workspace_id = $1 AND account_id = $2")
            .bind(workspace.0)
            .bind(account.0)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| parse_role(&r.try_get::<String, _>("role")?)).transpose()
    }

    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<MemberRow>> {
        let rows = sqlx::query(&format!(
            "SELECT a.id, a.display_name, a.email, m.role, m.joined_at, {} AS grants FROM workspace_members m \
             JOIN accounts a ON a.id = m.account_id WHERE m.workspace_id = $1 ORDER BY a.display_name, a.id",
            grants_sql("a.id", "m.workspace_id")
        ))
        .bind(workspace.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    account_id: AccountId(r.try_get("id")?),
                    display_name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    role: parse_role(&r.try_get::<String, _>("role")?)?,
                    grants: r.try_get("grants")?,
                    joined_at: r.try_get("joined_at")?,
                })
            })
            .collect()
    }

    async fn rename_workspace(&self, workspace: WorkspaceId, name: &WorkspaceName) -> Result<()> {
        let done = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(workspace.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn set_seat_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        if seats_used(&mut tx, workspace).await? > i64::from(limit) {
            return Err(StoreError::SeatLimitBelowUsed);
        }
        sqlx::query("UPDATE workspaces SET seat_limit = $1 WHERE id = $2")
            .bind(i64::from(limit))
            .bind(workspace.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_lite_grant_limit(&self, workspace: WorkspaceId, limit: u32) -> Result<()> {
        let done = sqlx::query("UPDATE workspaces SET lite_grant_limit = $1 WHERE id = $2")
            .bind(i64::from(limit))
            .bind(workspace.0)
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn add_member(&self, workspace: WorkspaceId, account: AccountId, role: Role, now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        if role_in(&mut tx, workspace, account).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        if role.takes_seat() && seats_used(&mut tx, workspace).await? >= seat_limit(&mut tx, workspace).await? {
            return Err(StoreError::SeatLimitReached);
        }
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, account_id, role, joined_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(workspace.0)
        .bind(account.0)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_role(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        role: Role,
        may_change_owner: bool,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        let current = role_in(&mut tx, workspace, account).await?.ok_or(StoreError::NotFound)?;
        if current == role {
            return Ok(());
        }
        if !may_change_owner && (current == Role::Owner || role == Role::Owner) {
            return Err(StoreError::OwnerProtected);
        }
        if current == Role::Owner && owners(&mut tx, workspace).await? <= 1 {
            return Err(StoreError::LastOwner);
        }
        if role.takes_seat()
            && !current.takes_seat()
            && seats_used(&mut tx, workspace).await? >= seat_limit(&mut tx, workspace).await?
        {
            return Err(StoreError::SeatLimitReached);
        }
        sqlx::query("UPDATE workspace_members SET role = $1 WHERE workspace_id = $2 AND account_id = $3")
            .bind(role.as_str())
            .bind(workspace.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        check_lite_limit(&mut tx, workspace, account).await?;
        record(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
        may_change_owner: bool,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        let current = role_in(&mut tx, workspace, account).await?.ok_or(StoreError::NotFound)?;
        if current == Role::Owner {
            if !may_change_owner {
                return Err(StoreError::OwnerProtected);
            }
            if owners(&mut tx, workspace).await? <= 1 {
                return Err(StoreError::LastOwner);
            }
        }
        // Leaving a workspace is leaving everything in it: its groups and every
        // conversation one was addressed to. Posters into those conversations serialise
        // on their rows, so no post by the leaver commits after this returns.
        lock_conversations(&mut tx, "workspace_id = $1", workspace.0).await?;
        sqlx::query(
            "DELETE FROM group_members WHERE account_id = $1 \
             AND group_id IN (SELECT id FROM conversations WHERE workspace_id = $2)",
        )
        .bind(account.0)
        .bind(workspace.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM conversation_participants WHERE account_id = $1 \
             AND conversation_id IN (SELECT id FROM conversations WHERE workspace_id = $2)",
        )
        .bind(account.0)
        .bind(workspace.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND account_id = $2")
            .bind(workspace.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl MailStore for ThisStore {
    async fn enqueue_mail(&self, m: NewMail) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox (id, recipient, subject, body, created_at, due_at, attempts) \
             VALUES ($1, $2, $3, $4, $5, $5, 0)",
        )
        .bind(m.id)
        .bind(m.recipient)
        .bind(m.subject)
        .bind(m.body)
        .bind(m.created_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn claim_mail(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MailRow>> {
        let due =
            sqlx::query("SELECT id FROM outbox WHERE sent_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2")
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let id: i64 = row.try_get("id")?;
            // The conditional update is the claim: of several workers racing for one
            // message, exactly one sees it still due and moves it past its lease.
            let won = sqlx::query(
                "UPDATE outbox SET due_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND sent_at IS NULL AND due_at <= $3 \
                 RETURNING id, recipient, subject, body, attempts",
            )
            .bind(lease_until)
            .bind(id)
            .bind(now)
            .fetch_optional(self.writer())
            .await?;
            if let Some(r) = won {
                claimed.push(MailRow {
                    id: r.try_get("id")?,
                    recipient: r.try_get("recipient")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                });
            }
        }
        Ok(claimed)
    }

    async fn mail_sent(&self, id: i64, now: i64) -> Result<()> {
        // The body may hold a single-use link: once delivered, it is not kept.
        sqlx::query("UPDATE outbox SET sent_at = $1, body = '', last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn mail_failed(&self, id: i64, retry_at: i64, error: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET due_at = $1, last_error = $2 WHERE id = $3")
            .bind(retry_at)
            .bind(error)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Conversations

const CONVERSATION_COLUMNS: &str =
    "c.id, c.workspace_id, c.kind, c.title, c.locked, c.last_seq, c.created_by, c.created_at";

fn conversation(row: &DbRow) -> Result<ConversationRow> {
    Ok(ConversationRow {
        id: ConversationId(row.try_get("id")?),
        workspace_id: WorkspaceId(row.try_get("workspace_id")?),
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        title: row.try_get("title")?,
        locked: row.try_get("locked")?,
        last_seq: row.try_get("last_seq")?,
        created_by: AccountId(row.try_get("created_by")?),
        created_at: row.try_get("created_at")?,
    })
}

/// The ids of the conversations the account in parameter `p` can see: the access rule.
pub(super) fn visible_ids(p: &str) -> String {
    format!(
        "SELECT cp.conversation_id FROM conversation_participants cp WHERE cp.account_id = {p} \
         UNION SELECT cg.conversation_id FROM conversation_groups cg \
         JOIN group_members gm ON gm.group_id = cg.group_id WHERE gm.account_id = {p}"
    )
}

/// The access rule for one conversation, `visible_ids` asked of one row: whether the
/// account `p` can see conversation `c` (a direct participant, or a member of a group it
/// is addressed to). Each branch is an index lookup; nothing is materialised, as the
/// union of `c.id IN (visible_ids)` would be for every row it is asked of.
fn sees(p: &str) -> String {
    format!(
        "EXISTS ( \
           SELECT 1 FROM conversation_participants cp WHERE cp.conversation_id = c.id AND cp.account_id = {p} \
           UNION ALL SELECT 1 FROM conversation_groups cg JOIN group_members gm ON gm.group_id = cg.group_id \
           WHERE cg.conversation_id = c.id AND gm.account_id = {p})"
    )
}

/// Whether anyone who can see conversation `c` is outside its workspace.
const HAS_EXTERNALS: &str = "EXISTS (SELECT 1 FROM ( \
       SELECT cp.account_id FROM conversation_participants cp WHERE cp.conversation_id = c.id \
       UNION SELECT gm.account_id FROM conversation_groups cg JOIN group_members gm ON gm.group_id = cg.group_id \
       WHERE cg.conversation_id = c.id) aud \
     WHERE NOT EXISTS (SELECT 1 FROM workspace_members x \
       WHERE x.workspace_id = c.workspace_id AND x.account_id = aud.account_id))";

/// The caller's conversations (the account in `$1`) with their reading state and last
/// activity; `extra` narrows the set (`AND c.id = $2`).
fn summary_sql(extra: &str) -> String {
    let visible = visible_ids("$1");
    format!(
        "SELECT {CONVERSATION_COLUMNS}, w.name AS workspace_name, wm.role AS my_role, \
           COALESCE(rm.seq, 0) AS read_seq, \
           (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.seq > COALESCE(rm.seq, 0) \
              AND m.author_id <> $1 AND m.deleted_at IS NULL) AS unread, \
           {HAS_EXTERNALS} AS has_externals, \
           (SELECT m.created_at FROM messages m WHERE m.conversation_id = c.id AND m.seq = c.last_seq) \
             AS last_activity \
         FROM conversations c \
         JOIN workspaces w ON w.id = c.workspace_id \
         LEFT JOIN workspace_members wm ON wm.workspace_id = c.workspace_id AND wm.account_id = $1 \
         LEFT JOIN read_markers rm ON rm.conversation_id = c.id AND rm.account_id = $1 \
         WHERE c.id IN ({visible}) {extra}"
    )
}

/// A summary and its last activity (for ordering).
fn summary(r: &DbRow) -> Result<(i64, ConversationSummary)> {
    let role: Option<String> = r.try_get("my_role")?;
    let summary = ConversationSummary {
        conversation: conversation(r)?,
        workspace_name: r.try_get("workspace_name")?,
        role: role.as_deref().map(parse_role).transpose()?,
        read_seq: r.try_get("read_seq")?,
        unread: r.try_get("unread")?,
        has_externals: r.try_get("has_externals")?,
    };
    let activity = r.try_get::<Option<i64>, _>("last_activity")?.unwrap_or(summary.conversation.created_at);
    Ok((activity, summary))
}

fn person(row: &DbRow) -> Result<PersonRow> {
    let role: Option<String> = row.try_get("role")?;
    Ok(PersonRow {
        account_id: AccountId(row.try_get("id")?),
        display_name: row.try_get("display_name")?,
        role: role.as_deref().map(parse_role).transpose()?,
    })
}

fn group(row: &DbRow) -> Result<GroupRow> {
    Ok(GroupRow { group: conversation(row)?, member_count: row.try_get("member_count")? })
}

const GROUP_SELECT: &str = "SELECT c.id, c.workspace_id, c.kind, c.title, c.locked, c.last_seq, c.created_by, \
     c.created_at, (SELECT COUNT(*) FROM group_members gm WHERE gm.group_id = c.id) AS member_count \
     FROM conversations c";

#[async_trait]
impl ConversationStore for ThisStore {
    async fn create_conversation(&self, new: NewConversation, audit: &[NewAudit]) -> Result<ConversationRow> {
        let mut tx = self.writer().begin().await?;
        // Lite limits are counted under the workspace's lock.
        lock_workspace(&mut tx, new.workspace_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, workspace_id, kind, title, locked, last_seq, created_by, created_at, direct_key) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8) ON CONFLICT (direct_key) DO NOTHING",
        )
        .bind(new.id.0)
        .bind(new.workspace_id.0)
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(false)
        .bind(new.created_by.0)
        .bind(new.created_at)
        .bind(&new.direct_key)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists);
        }
        for member in &new.members {
            grant(&mut tx, new.id, ConversationKind::Group, *member, new.created_at).await?;
        }
        for group in &new.groups {
            sqlx::query(
                "INSERT INTO conversation_groups (conversation_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(new.id.0)
            .bind(group.0)
            .execute(&mut *tx)
            .await?;
        }
        for account in &new.participants {
            grant(&mut tx, new.id, ConversationKind::Thread, *account, new.created_at).await?;
        }
        if new.kind != ConversationKind::Direct {
            for account in new.members.iter().chain(&new.participants) {
                check_lite_limit(&mut tx, new.workspace_id, *account).await?;
            }
        }
        for a in audit {
            record(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(ConversationRow {
            id: new.id,
            workspace_id: new.workspace_id,
            kind: new.kind,
            title: new.title,
            locked: false,
            last_seq: 0,
            created_by: new.created_by,
            created_at: new.created_at,
        })
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRow>> {
        let row = sqlx::query(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(conversation).transpose()
    }

    async fn direct_conversation(&self, key: &str) -> Result<Option<ConversationRow>> {
        let row = sqlx::query(&format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.direct_key = $1"))
            .bind(key)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(conversation).transpose()
    }

    async fn update_conversation(&self, id: ConversationId, title: Option<&str>, locked: Option<bool>) -> Result<()> {
        let done = sqlx::query(
            "UPDATE conversations SET title = COALESCE($1, title), locked = COALESCE($2, locked) WHERE id = $3",
        )
        .bind(title)
        .bind(locked)
        .bind(id.0)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn groups_of_workspace(&self, workspace: WorkspaceId) -> Result<Vec<GroupRow>> {
        let rows = sqlx::query(&format!(
            "{GROUP_SELECT} WHERE c.workspace_id = $1 AND c.kind = 'group' ORDER BY c.title, c.id"
        ))
        .bind(workspace.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(group).collect()
    }

    async fn is_group_member(&self, group: ConversationId, account: AccountId) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS x FROM group_members WHERE group_id = $1 AND account_id = $2")
            .bind(group.0)
            .bind(account.0)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.is_some())
    }

    async fn workspace_conversations(&self, workspace: WorkspaceId) -> Result<Vec<ConversationId>> {
        let rows = sqlx::query("SELECT id FROM conversations WHERE workspace_id = $1 ORDER BY id")
            .bind(workspace.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok(ConversationId(r.try_get("id")?))).collect()
    }

    async fn conversations_addressed_to(&self, group: ConversationId) -> Result<Vec<ConversationId>> {
        let rows =
            sqlx::query("SELECT conversation_id FROM conversation_groups WHERE group_id = $1 ORDER BY conversation_id")
                .bind(group.0)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(|r| Ok(ConversationId(r.try_get("conversation_id")?))).collect()
    }

    async fn add_group_member(
        &self,
        group: ConversationId,
        account: AccountId,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let (ws, _) = workspace_and_kind(&mut tx, group).await?;
        lock_workspace(&mut tx, ws).await?;
        let added = grant(&mut tx, group, ConversationKind::Group, account, now).await?;
        if added {
            check_lite_limit(&mut tx, ws, account).await?;
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_group_member(&self, group: ConversationId, account: AccountId, audit: &NewAudit) -> Result<bool> {
        ungrant_recorded(self.writer(), group, ConversationKind::Group, account, audit).await
    }

    async fn add_conversation_group(
        &self,
        conversation: ConversationId,
        group: ConversationId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "INSERT INTO conversation_groups (conversation_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(conversation.0)
        .bind(group.0)
        .execute(&mut *tx)
        .await?;
        let added = done.rows_affected() == 1;
        if added {
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_conversation_group(
        &self,
        conversation: ConversationId,
        group: ConversationId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        lock_conversations(&mut tx, "id = $1", conversation.0).await?;
        let done = sqlx::query("DELETE FROM conversation_groups WHERE conversation_id = $1 AND group_id = $2")
            .bind(conversation.0)
            .bind(group.0)
            .execute(&mut *tx)
            .await?;
        let removed = done.rows_affected() == 1;
        if removed {
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn add_participant(
        &self,
        conversation: ConversationId,
        account: AccountId,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let (ws, kind) = workspace_and_kind(&mut tx, conversation).await?;
        lock_workspace(&mut tx, ws).await?;
        let added = grant(&mut tx, conversation, kind, account, now).await?;
        if added {
            check_lite_limit(&mut tx, ws, account).await?;
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_participant(
        &self,
        conversation: ConversationId,
        account: AccountId,
        audit: &NewAudit,
    ) -> Result<bool> {
        ungrant_recorded(self.writer(), conversation, ConversationKind::Thread, account, audit).await
    }

    async fn grants_of(
        &self,
        workspace: WorkspaceId,
        account: AccountId,
    ) -> Result<(Vec<ConversationId>, Vec<ConversationId>)> {
        let groups = sqlx::query(
            "SELECT c.id FROM group_members gm JOIN conversations c ON c.id = gm.group_id \
             WHERE gm.account_id = $1 AND c.workspace_id = $2 ORDER BY c.id",
        )
        .bind(account.0)
        .bind(workspace.0)
        .fetch_all(self.reader())
        .await?;
        let threads = sqlx::query(
            "SELECT c.id FROM conversation_participants cp JOIN conversations c ON c.id = cp.conversation_id \
             WHERE cp.account_id = $1 AND c.workspace_id = $2 AND c.kind = 'thread' ORDER BY c.id",
        )
        .bind(account.0)
        .bind(workspace.0)
        .fetch_all(self.reader())
        .await?;
        let ids =
            |rows: Vec<DbRow>| rows.iter().map(|r| Ok(ConversationId(r.try_get("id")?))).collect::<Result<Vec<_>>>();
        Ok((ids(groups)?, ids(threads)?))
    }

    async fn replace_grants(
        &self,
        workspace: WorkspaceId,
        leaver: AccountId,
        successor: Successor,
        conversations: &[ConversationId],
        actor: AccountId,
        summary: &NewAudit,
    ) -> Result<(i64, i64)> {
        let mut tx = self.writer().begin().await?;
        lock_workspace(&mut tx, workspace).await?;
        // Every conversation it may touch, in one statement (so in id order), before
        // `ungrant` takes them one group's threads at a time: those would not be in id
        // order, and could wait in a cycle with a batch of posts.
        lock_conversations(&mut tx, "workspace_id = $1", workspace.0).await?;
        let now = summary.at;
        let heir = match &successor {
            Successor::Account(id) => Some(*id),
            Successor::Invitation(_) => None,
        };
        let (mut groups, mut threads) = (0, 0);
        let mut moved = Vec::new();
        for &c in conversations {
            let (ws, kind) = workspace_and_kind(&mut tx, c).await?;
            if ws != workspace || kind == ConversationKind::Direct || !ungrant(&mut tx, c, kind, leaver).await? {
                continue;
            }
            let (removed, added) = match kind {
                ConversationKind::Group => {
                    groups += 1;
                    (AuditAction::GroupMemberRemoved, AuditAction::GroupMemberAdded)
                }
                _ => {
                    threads += 1;
                    (AuditAction::ParticipantRemoved, AuditAction::ParticipantAdded)
                }
            };
            record(&mut tx, &NewAudit::new(workspace, actor, removed).account(leaver).conversation(c)).await?;
            if let Some(heir) = heir
                && grant(&mut tx, c, kind, heir, now).await?
            {
                record(&mut tx, &NewAudit::new(workspace, actor, added).account(heir).conversation(c)).await?;
            }
            moved.push(c);
        }
        match successor {
            Successor::Account(heir) => check_lite_limit(&mut tx, workspace, heir).await?,
            Successor::Invitation(mut invitation)
                if !moved.is_empty() || invitation.role.is_some_and(|r| r != Role::Lite) =>
            {
                invitation.grants = moved;
                insert_invitation(&mut tx, &invitation).await?;
                let sent = NewAudit::new(workspace, actor, AuditAction::InvitationSent)
                    .email(invitation.email.as_str())
                    .detail(serde_json::json!({
                        "invitation_id": invitation.id.to_string(),
                        "role": invitation.role.map(Role::as_str),
                        "grants": invitation.grants.len(),
                    }));
                record(&mut tx, &sent).await?;
            }
            Successor::Invitation(_) => {}
        }
        let mut summary = summary.clone();
        let mut detail: serde_json::Value = serde_json::from_str(&summary.detail).unwrap_or_default();
        detail["groups"] = groups.into();
        detail["threads"] = threads.into();
        summary.detail = detail.to_string();
        record(&mut tx, &summary).await?;
        tx.commit().await?;
        Ok((groups, threads))
    }

    async fn can_see(&self, account: AccountId, conversation: ConversationId) -> Result<bool> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("SELECT 1 AS x FROM conversations c WHERE c.id = $2 AND {}", sees("$1"))
        });
        let row = sqlx::query(&SQL).bind(account.0).bind(conversation.0).fetch_optional(self.reader()).await?;
        Ok(row.is_some())
    }

    async fn access(&self, account: AccountId, id: ConversationId) -> Result<Option<(ConversationRow, Option<Role>)>> {
        access_on(self.reader(), account, id).await
    }

    async fn visible_ids(&self, account: AccountId) -> Result<Vec<ConversationId>> {
        let rows = sqlx::query(&visible_ids("$1")).bind(account.0).fetch_all(self.reader()).await?;
        rows.iter().map(|r| Ok(ConversationId(r.try_get(0)?))).collect()
    }

    async fn last_seqs(&self, conversations: &[ConversationId]) -> Result<Vec<(ConversationId, i64)>> {
        let mut out = Vec::with_capacity(conversations.len());
        for chunk in conversations.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id, last_seq FROM conversations WHERE id IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.0);
            }
            for row in query.fetch_all(self.reader()).await? {
                out.push((ConversationId(row.try_get("id")?), row.try_get("last_seq")?));
            }
        }
        Ok(out)
    }

    async fn visible_conversations(&self, account: AccountId) -> Result<Vec<ConversationSummary>> {
        let rows = sqlx::query(&summary_sql("")).bind(account.0).fetch_all(self.reader()).await?;
        let mut out: Vec<(i64, ConversationSummary)> = rows.iter().map(summary).collect::<Result<_>>()?;
        out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.conversation.id.cmp(&b.1.conversation.id)));
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }

    async fn conversation_summary(
        &self,
        account: AccountId,
        id: ConversationId,
    ) -> Result<Option<ConversationSummary>> {
        let row =
            sqlx::query(&summary_sql("AND c.id = $2")).bind(account.0).bind(id.0).fetch_optional(self.reader()).await?;
        Ok(row.as_ref().map(summary).transpose()?.map(|(_, s)| s))
    }

    async fn externals_of_workspace(&self, workspace: WorkspaceId, viewer: AccountId) -> Result<Vec<PersonRow>> {
        let visible = visible_ids("$2");
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT a.id, a.display_name, CAST(NULL AS TEXT) AS role FROM ( \
               SELECT cp.account_id, cp.conversation_id FROM conversation_participants cp \
               JOIN conversations c ON c.id = cp.conversation_id WHERE c.workspace_id = $1 \
               UNION SELECT gm.account_id, cg.conversation_id FROM conversation_groups cg \
               JOIN group_members gm ON gm.group_id = cg.group_id \
               JOIN conversations c ON c.id = cg.conversation_id WHERE c.workspace_id = $1) x \
             JOIN accounts a ON a.id = x.account_id \
             WHERE x.conversation_id IN ({visible}) AND NOT EXISTS (SELECT 1 FROM workspace_members wm \
               WHERE wm.workspace_id = $1 AND wm.account_id = x.account_id) \
             ORDER BY a.display_name, a.id"
        ))
        .bind(workspace.0)
        .bind(viewer.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(person).collect()
    }

    async fn audience(
        &self,
        conversation: ConversationId,
    ) -> Result<(Vec<PersonRow>, Vec<(GroupRow, Vec<PersonRow>)>)> {
        let participants = sqlx::query(
            "SELECT a.id, a.display_name, wm.role FROM conversation_participants cp \
             JOIN accounts a ON a.id = cp.account_id JOIN conversations c ON c.id = cp.conversation_id \
             LEFT JOIN workspace_members wm ON wm.workspace_id = c.workspace_id AND wm.account_id = a.id \
             WHERE cp.conversation_id = $1 ORDER BY a.display_name, a.id",
        )
        .bind(conversation.0)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(person)
        .collect::<Result<Vec<_>>>()?;
        let groups = sqlx::query(&format!(
            "{GROUP_SELECT} JOIN conversation_groups x ON x.group_id = c.id WHERE x.conversation_id = $1 \
             ORDER BY c.title, c.id"
        ))
        .bind(conversation.0)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(group)
        .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let members = self.group_members(g.group.id).await?;
            out.push((g, members));
        }
        Ok((participants, out))
    }

    async fn group_members(&self, group: ConversationId) -> Result<Vec<PersonRow>> {
        let rows = sqlx::query(
            "SELECT a.id, a.display_name, wm.role FROM group_members gm \
             JOIN accounts a ON a.id = gm.account_id JOIN conversations c ON c.id = gm.group_id \
             LEFT JOIN workspace_members wm ON wm.workspace_id = c.workspace_id AND wm.account_id = a.id \
             WHERE gm.group_id = $1 ORDER BY a.display_name, a.id",
        )
        .bind(group.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(person).collect()
    }

    async fn contacts(&self, account: AccountId, workspace: Option<WorkspaceId>) -> Result<Vec<(AccountId, String)>> {
        let visible = visible_ids("$1");
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT a.id, a.display_name FROM ( \
               SELECT cp.account_id, cp.conversation_id FROM conversation_participants cp \
               UNION SELECT gm.account_id, cg.conversation_id FROM conversation_groups cg \
               JOIN group_members gm ON gm.group_id = cg.group_id) aud \
             JOIN accounts a ON a.id = aud.account_id JOIN conversations c ON c.id = aud.conversation_id \
             WHERE aud.conversation_id IN ({visible}) AND aud.account_id <> $1 \
               AND (CAST($2 AS BIGINT) IS NULL OR c.workspace_id = $2) \
             ORDER BY a.display_name, a.id"
        ))
        .bind(account.0)
        .bind(workspace.map(|w| w.0))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(|r| Ok((AccountId(r.try_get("id")?), r.try_get("display_name")?))).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Messages

pub(super) const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.seq, m.author_id, \
       a.display_name AS author_name, wm.role AS author_role, m.body, m.reply_to, m.client_id, \
       m.created_at, m.edited_at, m.deleted_at \
     FROM messages m \
     JOIN accounts a ON a.id = m.author_id \
     JOIN conversations c ON c.id = m.conversation_id \
     LEFT JOIN workspace_members wm ON wm.workspace_id = c.workspace_id AND wm.account_id = m.author_id";

/// Full-text search over the messages `account` can see: the query every backend runs,
/// with its own `matches` clause on `$2` (which receives `query`).
pub(super) async fn search(
    pool: &sqlx::Pool<Db>,
    matches: &str,
    query: String,
    account: AccountId,
    workspace: Option<WorkspaceId>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    let sql = format!(
        "{MESSAGE_SELECT} WHERE {matches} AND m.conversation_id IN ({}) AND m.deleted_at IS NULL \
         AND (CAST($3 AS BIGINT) IS NULL OR c.workspace_id = $3) ORDER BY m.created_at DESC, m.id LIMIT $4",
        visible_ids("$1")
    );
    let rows =
        sqlx::query(&sql).bind(account.0).bind(query).bind(workspace.map(|w| w.0)).bind(limit).fetch_all(pool).await?;
    rows.iter().map(message).collect()
}

pub(super) fn message(row: &DbRow) -> Result<MessageRow> {
    let role: Option<String> = row.try_get("author_role")?;
    Ok(MessageRow {
        id: MessageId(row.try_get("id")?),
        conversation_id: ConversationId(row.try_get("conversation_id")?),
        seq: row.try_get("seq")?,
        author: PersonRow {
            account_id: AccountId(row.try_get("author_id")?),
            display_name: row.try_get("author_name")?,
            role: role.as_deref().map(parse_role).transpose()?,
        },
        body: row.try_get("body")?,
        reply_to: row.try_get("reply_to")?,
        client_id: row.try_get("client_id")?,
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// The statement that stores a post (`post_in`), binding `$1` its id, `$2` the
/// conversation, `$3` the author, `$4` the body, `$5` what it replies to, `$6` the client
/// id and `$7` the time. It is inserted only if the author sees the conversation (the
/// gate's rule, `sees`), is not a `lite` user of its workspace, the conversation is
/// open and `$5` names one of its messages; with the conversation's next number (the
/// `messages_last_seq` trigger moves `last_seq` on); and not at all if it resends a client
/// id (nothing is numbered then, so nothing needs undoing). It returns the number and the
/// author's name and role. On SQLite it is the whole post: atomic alone, it needs no
/// transaction of its own (`post_batch`). Made once: every post runs it.
fn insert_post_sql() -> &'static str {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO messages (id, conversation_id, seq, author_id, body, reply_to, client_id, created_at) \
         SELECT $1, c.id, c.last_seq + 1, $3, $4, $5, $6, $7 FROM conversations c \
         WHERE c.id = $2 AND NOT c.locked AND {} \
           AND NOT EXISTS (SELECT 1 FROM workspace_members wl WHERE wl.workspace_id = c.workspace_id \
             AND wl.account_id = $3 AND wl.role = 'lite') \
           AND ($5 IS NULL OR ($5 >= 1 AND $5 <= c.last_seq)) \
         ON CONFLICT (conversation_id, author_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
         RETURNING seq, \
           (SELECT a.display_name FROM accounts a WHERE a.id = $3) AS author_name, \
           (SELECT wm.role FROM workspace_members wm WHERE wm.account_id = $3 \
             AND wm.workspace_id = (SELECT cw.workspace_id FROM conversations cw WHERE cw.id = $2)) AS author_role",
            sees("$3")
        )
    });
    &SQL
}

/// PostgreSQL: the function `salon_post` that each connection defines for itself in
/// `pg_temp` when it opens (nothing in the schema to migrate, and always this build's
/// statement). Called with `insert_post_sql`'s parameters, it takes the conversation's
/// row, then runs that statement: two statements, so the insert reads access after the
/// lock was granted (a removal that committed meanwhile is seen, as with `take_rows`),
/// in one round trip, and alone on its connection in a transaction of its own.
#[allow(dead_code)] // SQLite has no use for it.
pub(super) fn post_function_sql() -> String {
    format!(
        "CREATE FUNCTION pg_temp.salon_post(BIGINT, BIGINT, BIGINT, TEXT, BIGINT, TEXT, BIGINT) \
         RETURNS TABLE (seq BIGINT, author_name TEXT, author_role TEXT) LANGUAGE plpgsql VOLATILE AS $post$\n\
         #variable_conflict use_column\n\
         BEGIN PERFORM 1 FROM conversations WHERE id = $2 {}; RETURN QUERY {}; END $post$",
        super::ROW_LOCK.unwrap_or(""),
        insert_post_sql()
    )
}

/// PostgreSQL: the function `salon_post_many`, defined beside `salon_post`, which posts a
/// batch in one statement (`post_many_in`), so in one round trip and one transaction of
/// its own. It takes every conversation's row first, in id order (as `take_rows`), then
/// posts each message with `salon_post`, whose statements each read after the locks were
/// granted. The batch is a JSON array of `{o, i, c, a, b, r, k, t}`: the post's place in
/// the batch, then `insert_post_sql`'s parameters in their order. Each row it returns
/// carries `o`; a post it refused returns `seq` NULL and its conversation's `last_seq`
/// at that moment (no row if the conversation does not exist), which `refusal` needs to
/// explain it as the transaction would have, before the posts after it.
#[allow(dead_code)] // SQLite has no use for it.
pub(super) fn post_many_function_sql() -> String {
    format!(
        "CREATE FUNCTION pg_temp.salon_post_many(JSON) \
         RETURNS TABLE (o BIGINT, seq BIGINT, author_name TEXT, author_role TEXT, last_seq BIGINT) \
         LANGUAGE plpgsql VOLATILE AS $many$\n\
         #variable_conflict use_column\n\
         DECLARE p RECORD;\n\
         BEGIN\n\
           PERFORM 1 FROM conversations WHERE id IN (SELECT (e ->> 'c')::BIGINT FROM json_array_elements($1) e) \
             ORDER BY id {};\n\
           FOR p IN SELECT * FROM json_to_recordset($1) \
               AS x(o BIGINT, i BIGINT, c BIGINT, a BIGINT, b TEXT, r BIGINT, k TEXT, t BIGINT) LOOP\n\
             RETURN QUERY SELECT p.o, s.seq, s.author_name, s.author_role, NULL::BIGINT \
               FROM pg_temp.salon_post(p.i, p.c, p.a, p.b, p.r, p.k, p.t) s;\n\
             IF NOT FOUND THEN\n\
               RETURN QUERY SELECT p.o, NULL::BIGINT, NULL::TEXT, NULL::TEXT, c.last_seq \
                 FROM conversations c WHERE c.id = p.c;\n\
             END IF;\n\
           END LOOP;\n\
         END $many$",
        super::ROW_LOCK.unwrap_or("")
    )
}

/// Posts one message on the caller's connection (a transaction, or on SQLite a lone
/// post in autocommit). It changes nothing unless it returns `Posted::Created`.
///
/// One statement on the common path, the insert (`insert_post_sql`), which also numbers
/// the message, applies the access rule and the rules of writing, and reads the author's
/// name and role; then mentions if any. On PostgreSQL it is preceded by taking the
/// conversation's row. A post it refuses is explained by a read right after (`refusal`).
/// Callers may post without asking the gate first (`Messages::post_many`): the insert is
/// where the rule is decided, in the same statement as the write.
pub(super) async fn post_in(
    tx: &mut <Db as sqlx::Database>::Connection,
    new: &NewMessage,
    row_taken: bool,
) -> Result<Posted> {
    // Concurrent posters (and removals, which take the row too) queue on the row; a
    // removal that committed first wins. On SQLite the one writer queues them. On
    // PostgreSQL the row is taken first, in a statement of its own, unless the caller took
    // it already: by `salon_post` (`post_function_sql`), which takes it and inserts in one
    // round trip.
    let statement = match super::POST_TAKING_ROW {
        Some(call) if !row_taken => call,
        _ => insert_post_sql(),
    };
    let inserted = sqlx::query(statement)
        .bind(new.id.0)
        .bind(new.conversation_id.0)
        .bind(new.author.0)
        .bind(&new.body)
        .bind(new.reply_to)
        .bind(&new.client_id)
        .bind(new.created_at)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(inserted) = inserted else { return Ok(Posted::Refused(refusal(tx, new, None).await?)) };
    for mentioned in &new.mentions {
        sqlx::query("INSERT INTO message_mentions (message_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(new.id.0)
            .bind(mentioned.0)
            .execute(&mut *tx)
            .await?;
    }
    created(new, &inserted)
}

/// A post as stored, from the row its insert returned (`seq`, `author_name`, `author_role`).
fn created(new: &NewMessage, inserted: &<Db as sqlx::Database>::Row) -> Result<Posted> {
    let seq: i64 = inserted.try_get("seq")?;
    let role: Option<String> = inserted.try_get("author_role")?;
    Ok(Posted::Created(MessageRow {
        id: new.id,
        conversation_id: new.conversation_id,
        seq,
        author: PersonRow {
            account_id: new.author,
            display_name: inserted.try_get("author_name")?,
            role: role.as_deref().map(parse_role).transpose()?,
        },
        body: new.body.clone(),
        reply_to: new.reply_to,
        client_id: new.client_id.clone(),
        created_at: new.created_at,
        edited_at: None,
        deleted_at: None,
    }))
}

/// Why `post_in` inserted nothing, asked right after on the same connection (on SQLite
/// the writer, so nothing can have changed; on PostgreSQL in the same transaction, or for
/// a lone post just after its own, so access may have changed since: then the rules
/// below may all pass, and the answer is `Changed`). The rules in the order `Messages`
/// applies them: what the author cannot see is `NotFound` whatever else holds, then a
/// resend, the role, the lock and the reply.
///
/// `as_of` is the conversation's last number when the post was refused, for a refusal
/// explained after posts that came later in the same statement (`post_many_in`): the
/// reply is checked against it, and a message numbered after it is not what this post
/// resent, as in a transaction that explains each refusal before the next post.
async fn refusal(tx: &mut <Db as sqlx::Database>::Connection, new: &NewMessage, as_of: Option<i64>) -> Result<Refusal> {
    let Some((conversation, role)) = access_on(&mut *tx, new.author, new.conversation_id).await? else {
        return Ok(Refusal::NotFound);
    };
    let last_seq = as_of.unwrap_or(conversation.last_seq);
    if let Some(client_id) = &new.client_id
        && let Some(existing) = by_client_id(&mut *tx, new.conversation_id, new.author, client_id).await?
        && existing.seq <= last_seq
    {
        return Ok(if existing.body == new.body { Refusal::Resent(existing) } else { Refusal::ClientIdReused });
    }
    Ok(if role == Some(Role::Lite) {
        Refusal::ReadOnly
    } else if conversation.locked {
        Refusal::Locked
    } else if new.reply_to.is_some_and(|r| !(1..=last_seq).contains(&r)) {
        Refusal::NoSuchReply
    } else {
        Refusal::Changed
    })
}

/// The gate's read (`Store::access`) on any connection: the conversation and the
/// account's role in its workspace, if the account sees it.
async fn access_on<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    account: AccountId,
    id: ConversationId,
) -> Result<Option<(ConversationRow, Option<Role>)>> {
    // Made once: the gate asks it for nearly every request.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {CONVERSATION_COLUMNS}, wm.role AS my_role FROM conversations c \
             LEFT JOIN workspace_members wm ON wm.workspace_id = c.workspace_id AND wm.account_id = $1 \
             WHERE c.id = $2 AND {}",
            sees("$1")
        )
    });
    let row = sqlx::query(&SQL).bind(account.0).bind(id.0).fetch_optional(db).await?;
    let Some(row) = row else { return Ok(None) };
    let role: Option<String> = row.try_get("my_role")?;
    Ok(Some((conversation(&row)?, role.as_deref().map(parse_role).transpose()?)))
}

/// The message `author` posted in `conversation` with `client_id`, on any connection.
async fn by_client_id<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    conversation: ConversationId,
    author: AccountId,
    client_id: &str,
) -> Result<Option<MessageRow>> {
    let row = sqlx::query(&format!(
        "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.author_id = $2 AND m.client_id = $3"
    ))
    .bind(conversation.0)
    .bind(author.0)
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(message).transpose()
}

/// PostgreSQL: takes the rows of `conversations` (sorted, distinct) for the rest of the
/// transaction, in id order, as removals do (`lock_conversations`). A statement of its
/// own, before any that reads access: a statement that waited for a row lock still reads
/// the other tables as they were when it started, so it would not see a removal that
/// committed during the wait. Nothing to do on SQLite (one writer).
async fn take_rows(tx: &mut <Db as sqlx::Database>::Connection, conversations: &[ConversationId]) -> Result<()> {
    let Some(lock) = super::ROW_LOCK else { return Ok(()) };
    let params: Vec<String> = (1..=conversations.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT id FROM conversations WHERE id IN ({}) ORDER BY id {lock}", params.join(", "));
    let mut query = sqlx::query(&sql);
    for id in conversations {
        query = query.bind(id.0);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Posts messages in one transaction, in order. A post refused for its own reasons (not
/// found, closed, a resend) is refused alone; an `Err` (a database error broke the
/// transaction) means nothing was stored, and the caller posts them one by one.
async fn post_batch(pool: &sqlx::Pool<Db>, batch: &[&NewMessage]) -> Result<Vec<Result<Posted>>> {
    // A lone post without mentions is one statement (`post_in`), atomic on its own:
    // without BEGIN and COMMIT around it, SQLite's writer is woken once per post instead
    // of three times, and PostgreSQL answers in one round trip instead of four (its
    // statement, `salon_post`, takes the row before it inserts).
    if let [new] = batch
        && new.mentions.is_empty()
    {
        let mut conn = pool.acquire().await?;
        return match post_in(&mut conn, new, false).await {
            Err(StoreError::Database(e)) => Err(e.into()),
            other => Ok(vec![other]),
        };
    }
    if let Some(call) = super::POST_MANY
        && batch.iter().all(|new| new.mentions.is_empty())
    {
        let mut conn = pool.acquire().await?;
        return post_many_in(&mut conn, call, batch).await;
    }
    let mut tx = pool.begin().await?;
    // Every conversation's row at once, in one round trip rather than one per post.
    let mut conversations: Vec<ConversationId> = batch.iter().map(|new| new.conversation_id).collect();
    conversations.sort_by_key(|c| c.0);
    conversations.dedup();
    take_rows(&mut tx, &conversations).await?;
    let mut results = Vec::with_capacity(batch.len());
    for &new in batch {
        match post_in(&mut tx, new, true).await {
            Err(StoreError::Database(e)) => return Err(e.into()),
            other => results.push(other),
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// PostgreSQL: posts a batch without mentions in one statement (`salon_post_many`), one
/// round trip where a transaction of its own took one per post and three more; each
/// round trip is a wake-up of the backend and of the committer, which on a busy machine
/// may each wait for a core. An `Err` means nothing was stored; a post it refused is
/// explained after, as of its refusal (`refusal`, as for a lone post: access may have
/// changed since, then the answer is `Changed`), and a failure to explain it fails that
/// post alone.
async fn post_many_in(
    conn: &mut <Db as sqlx::Database>::Connection,
    call: &str,
    batch: &[&NewMessage],
) -> Result<Vec<Result<Posted>>> {
    let posts: Vec<serde_json::Value> = batch
        .iter()
        .enumerate()
        .map(|(o, new)| {
            serde_json::json!({
                "o": o, "i": new.id.0, "c": new.conversation_id.0, "a": new.author.0, "b": new.body,
                "r": new.reply_to, "k": new.client_id, "t": new.created_at,
            })
        })
        .collect();
    let rows = sqlx::query(call).bind(serde_json::Value::Array(posts).to_string()).fetch_all(&mut *conn).await?;
    let mut inserted: Vec<Option<<Db as sqlx::Database>::Row>> = batch.iter().map(|_| None).collect();
    for row in rows {
        let o: i64 = row.try_get("o")?;
        if let Some(slot) = usize::try_from(o).ok().and_then(|o| inserted.get_mut(o)) {
            *slot = Some(row);
        }
    }
    let mut results = Vec::with_capacity(batch.len());
    for (new, row) in batch.iter().zip(inserted) {
        results.push(match row {
            None => refusal(conn, new, None).await.map(Posted::Refused),
            Some(row) => match row.try_get::<Option<i64>, _>("seq").and_then(|seq| match seq {
                Some(_) => Ok(None),
                None => row.try_get::<Option<i64>, _>("last_seq").map(Some),
            }) {
                Ok(None) => created(new, &row),
                Ok(Some(as_of)) => refusal(conn, new, as_of).await.map(Posted::Refused),
                Err(e) => Err(e.into()),
            },
        });
    }
    Ok(results)
}

/// One caller's run of posts, in its order, waiting for a committer (`commit_posts`);
/// answered together, in the same order.
pub(super) struct PostJob {
    posts: Vec<NewMessage>,
    on_commit: Option<OnCommit>,
    done: tokio::sync::oneshot::Sender<Vec<Result<Posted>>>,
}

/// The queue of posts waiting for a committer, shared by the backend's committer tasks.
pub(super) type PostQueue = std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<PostJob>>>;

/// How many posts share one transaction, at most: a batch takes runs while it holds
/// fewer (a caller's run is never split, so one run of more stands alone).
const MAX_BATCH: usize = 64;

/// Queues a caller's run of posts and waits for the commit that stores them.
pub(super) async fn queue_posts(
    queue: &tokio::sync::mpsc::Sender<PostJob>,
    posts: Vec<NewMessage>,
    on_commit: Option<OnCommit>,
) -> Vec<Result<Posted>> {
    let count = posts.len();
    let closed = || (0..count).map(|_| Err(sqlx::Error::PoolClosed.into())).collect();
    let (done, answer) = tokio::sync::oneshot::channel();
    if queue.send(PostJob { posts, on_commit, done }).await.is_err() {
        return closed();
    }
    answer.await.unwrap_or_else(|_| closed())
}

/// Group commit, one committer: the runs that queued while the committers were busy are
/// stored in one transaction, so they share one commit (one WAL flush) instead of paying
/// one each. Nobody is answered before that commit. A post refused for its own reasons
/// (not found, closed) is refused alone; one that breaks the transaction (a database error)
/// sends the whole batch back through one transaction per post, so only it fails.
///
/// Several committers may run at once (PostgreSQL; SQLite has one writer): each batch
/// takes its conversations' rows in id order, as a removal does (`lock_conversations`),
/// so transactions never wait on each other in a cycle, across nodes too. Posts to one
/// conversation keep their order within a batch, and a caller's run is never split.
pub(super) async fn commit_posts(pool: sqlx::Pool<Db>, queue: PostQueue) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else { return };
            let mut posts = first.posts.len();
            jobs.push(first);
            while posts < MAX_BATCH
                && let Ok(job) = queue.try_recv()
            {
                posts += job.posts.len();
                jobs.push(job);
            }
        }
        let answers = commit_batch(&pool, &jobs).await;
        for (job, answer) in jobs.drain(..).zip(answers) {
            if let Some(on_commit) = &job.on_commit {
                for (new, posted) in job.posts.iter().zip(&answer) {
                    if let Ok(Posted::Created(message)) = posted {
                        on_commit(message, &new.mentions);
                    }
                }
            }
            let _ = job.done.send(answer);
        }
    }
}

/// Stores a batch of runs; the answers, run by run.
async fn commit_batch(pool: &sqlx::Pool<Db>, jobs: &[PostJob]) -> Vec<Vec<Result<Posted>>> {
    // Every post as (run, index in run), in conversation id order; a stable sort keeps
    // each conversation's posts in the order they came.
    let mut order: Vec<(usize, usize)> =
        jobs.iter().enumerate().flat_map(|(j, job)| (0..job.posts.len()).map(move |p| (j, p))).collect();
    order.sort_by_key(|&(j, p)| jobs[j].posts[p].conversation_id.0);
    let messages: Vec<&NewMessage> = order.iter().map(|&(j, p)| &jobs[j].posts[p]).collect();
    match post_batch(pool, &messages).await {
        Ok(results) => {
            let mut answers: Vec<Vec<Option<Result<Posted>>>> =
                jobs.iter().map(|job| job.posts.iter().map(|_| None).collect()).collect();
            for ((j, p), result) in order.into_iter().zip(results) {
                answers[j][p] = Some(result);
            }
            answers.into_iter().map(|run| run.into_iter().map(|a| a.expect("one answer per post")).collect()).collect()
        }
        Err(StoreError::Database(e @ (sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed))) => {
            // No connection to be had: one by one would only wait that long again per post.
            tracing::warn!(error = %e, posts = messages.len(), "a batch of posts found no connection");
            let failed = || match e {
                sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
                _ => sqlx::Error::PoolTimedOut,
            };
            jobs.iter().map(|job| job.posts.iter().map(|_| Err(failed().into())).collect()).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, posts = messages.len(), "a batch of posts failed; posting them one by one");
            let mut answers = Vec::with_capacity(jobs.len());
            for job in jobs {
                let mut run = Vec::with_capacity(job.posts.len());
                for new in &job.posts {
                    run.push(post_alone(pool, new).await);
                }
                answers.push(run);
            }
            answers
        }
    }
}

/// How many times a post whose id was taken is tried again under a new one.
const ID_RETRIES: usize = 3;

/// Posts one message in a transaction of its own. A post whose id another message has
/// (ids from the clock or at random can meet, very rarely) is tried again under a new
/// one: its id is the only unique key a post can break (a client id used before is
/// answered as a resend, and the number is taken under the conversation's row or by the
/// one writer), so the poster never sees the collision.
async fn post_alone(pool: &sqlx::Pool<Db>, new: &NewMessage) -> Result<Posted> {
    let mut new = std::borrow::Cow::Borrowed(new);
    for _ in 0..ID_RETRIES {
        match post_alone_once(pool, &new).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                tracing::warn!(conversation = new.conversation_id.0, "a new message's id was taken; trying another");
                new.to_mut().id = super::new_message_id(new.created_at);
            }
            other => return other,
        }
    }
    post_alone_once(pool, &new).await
}

async fn post_alone_once(pool: &sqlx::Pool<Db>, new: &NewMessage) -> Result<Posted> {
    let mut tx = pool.begin().await?;
    let posted = post_in(&mut tx, new, false).await?;
    if matches!(posted, Posted::Created(_)) {
        tx.commit().await?;
    }
    Ok(posted)
}

#[async_trait]
impl MessageStore for ThisStore {
    fn new_message_id(&self, created_at: i64) -> MessageId {
        super::new_message_id(created_at)
    }

    /// Queued for the next group commit.
    async fn post_message(&self, new: NewMessage) -> Result<Posted> {
        self.post_messages(vec![new], None).await.pop().expect("one answer per post")
    }

    /// Queued for the next group commit, all of the run in the same one: posts from every
    /// caller share transactions (2,000 posts a second from 2,000 sockets are a few hundred
    /// commits, not 2,000).
    async fn post_messages(&self, batch: Vec<NewMessage>, on_commit: Option<OnCommit>) -> Vec<Result<Posted>> {
        queue_posts(&self.posts, batch, on_commit).await
    }

    async fn message_by_client_id(
        &self,
        conversation: ConversationId,
        author: AccountId,
        client_id: &str,
    ) -> Result<Option<MessageRow>> {
        by_client_id(self.reader(), conversation, author, client_id).await
    }

    async fn message(&self, conversation: ConversationId, seq: i64) -> Result<Option<MessageRow>> {
        let row = sqlx::query(&format!("{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.seq = $2"))
            .bind(conversation.0)
            .bind(seq)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(message).transpose()
    }

    async fn messages(&self, conversation: ConversationId, from: i64, to: i64) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(&format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY m.seq"
        ))
        .bind(conversation.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(message).collect()
    }

    async fn last_messages(&self, conversations: &[ConversationId]) -> Result<Vec<MessageRow>> {
        let mut out = Vec::with_capacity(conversations.len());
        for chunk in conversations.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{MESSAGE_SELECT} WHERE m.id IN (SELECT (SELECT l.id FROM messages l WHERE l.conversation_id = x.id \
                   AND l.deleted_at IS NULL ORDER BY l.seq DESC LIMIT 1) FROM conversations x WHERE x.id IN ({}))",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.0);
            }
            for row in query.fetch_all(self.reader()).await? {
                out.push(message(&row)?);
            }
        }
        Ok(out)
    }

    async fn extras(&self, conversation: ConversationId, from: i64, to: i64) -> Result<MessageExtras> {
        let reactions = sqlx::query(
            "SELECT r.message_id, r.emoji, r.account_id FROM reactions r JOIN messages m ON m.id = r.message_id \
             WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY r.created_at, r.emoji",
        )
        .bind(conversation.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        let mentions = sqlx::query(
            "SELECT mm.message_id, mm.account_id FROM message_mentions mm JOIN messages m ON m.id = mm.message_id \
             WHERE m.conversation_id = $1 AND m.seq >= $2 AND m.seq <= $3 ORDER BY mm.account_id",
        )
        .bind(conversation.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.reader())
        .await?;
        Ok(MessageExtras {
            reactions: reactions
                .iter()
                .map(|r| {
                    Ok((MessageId(r.try_get("message_id")?), r.try_get("emoji")?, AccountId(r.try_get("account_id")?)))
                })
                .collect::<Result<_>>()?,
            mentions: mentions
                .iter()
                .map(|r| Ok((MessageId(r.try_get("message_id")?), AccountId(r.try_get("account_id")?))))
                .collect::<Result<_>>()?,
        })
    }

    async fn edit_message(
        &self,
        conversation: ConversationId,
        seq: i64,
        author: AccountId,
        body: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        take_for_change(&mut tx, conversation, author, true).await?;
        let done = sqlx::query(
            "UPDATE messages SET body = $1, edited_at = $2 \
             WHERE conversation_id = $3 AND seq = $4 AND author_id = $5 AND deleted_at IS NULL",
        )
        .bind(body)
        .bind(now)
        .bind(conversation.0)
        .bind(seq)
        .bind(author.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_message(&self, conversation: ConversationId, seq: i64, caller: AccountId, now: i64) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        // Moderators delete in closed conversations too: the service decides who may.
        take_for_change(&mut tx, conversation, caller, false).await?;
        // The row stays as a tombstone so that sequences stay gapless.
        let Some(row) = sqlx::query(
            "UPDATE messages SET body = '', deleted_at = $1 WHERE conversation_id = $2 AND seq = $3 \
             AND deleted_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(conversation.0)
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Err(StoreError::NotFound);
        };
        let id: i64 = row.try_get("id")?;
        sqlx::query("DELETE FROM reactions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM message_mentions WHERE message_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_reaction(
        &self,
        conversation: ConversationId,
        message: MessageId,
        account: AccountId,
        emoji: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        take_for_change(&mut tx, conversation, account, true).await?;
        // Only onto a message of this conversation that is still there.
        let done = sqlx::query(
            "INSERT INTO reactions (message_id, account_id, emoji, created_at) \
             SELECT id, $2, $3, $4 FROM messages WHERE id = $1 AND conversation_id = $5 AND deleted_at IS NULL \
             ON CONFLICT DO NOTHING",
        )
        .bind(message.0)
        .bind(account.0)
        .bind(emoji)
        .bind(now)
        .bind(conversation.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_reaction(
        &self,
        conversation: ConversationId,
        message: MessageId,
        account: AccountId,
        emoji: &str,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        take_for_change(&mut tx, conversation, account, true).await?;
        let done = sqlx::query(
            "DELETE FROM reactions WHERE message_id = $1 AND account_id = $2 AND emoji = $3 \
             AND message_id IN (SELECT id FROM messages WHERE conversation_id = $4)",
        )
        .bind(message.0)
        .bind(account.0)
        .bind(emoji)
        .bind(conversation.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_read(&self, account: AccountId, conversation: ConversationId, seq: i64) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO read_markers (account_id, conversation_id, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, conversation_id) DO UPDATE SET seq = \
               CASE WHEN excluded.seq > read_markers.seq THEN excluded.seq ELSE read_markers.seq END \
             RETURNING seq",
        )
        .bind(account.0)
        .bind(conversation.0)
        .bind(seq)
        .fetch_one(self.writer())
        .await?;
        Ok(row.try_get("seq")?)
    }
}

// ---------------------------------------------------------------------------------------
// Invitations

async fn insert_invitation(tx: &mut Transaction<'_, Db>, inv: &NewInvitation) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (id, workspace_id, email, role, token_hash, message, invited_by, created_at, \
           sent_at, expires_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, 'pending')",
    )
    .bind(inv.id.0)
    .bind(inv.workspace_id.0)
    .bind(inv.email.as_str())
    .bind(inv.role.map(Role::as_str))
    .bind(&inv.token_hash.0)
    .bind(&inv.message)
    .bind(inv.invited_by.0)
    .bind(inv.created_at)
    .bind(inv.expires_at)
    .execute(&mut **tx)
    .await?;
    for c in &inv.grants {
        sqlx::query(
            "INSERT INTO invitation_grants (invitation_id, conversation_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(inv.id.0)
        .bind(c.0)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Which invitations to read.
enum Which {
    Id(i64),
    Token(Vec<u8>),
    Workspace { id: i64, open_only: bool },
    To { email: String, now: i64 },
    Conversation { id: i64, now: i64 },
}

impl Which {
    fn condition(&self) -> &'static str {
        match self {
            Which::Id(_) => "i.id = $1",
            Which::Token(_) => "i.token_hash = $1",
            Which::Workspace { open_only: true, .. } => "i.workspace_id = $1 AND i.state = 'pending'",
            Which::Workspace { open_only: false, .. } => "i.workspace_id = $1",
            Which::To { .. } => "i.email = $1 AND i.state = 'pending' AND i.role IS NOT NULL AND i.expires_at > $2",
            Which::Conversation { .. } => {
                "i.id IN (SELECT invitation_id FROM invitation_grants WHERE conversation_id = $1) \
                 AND i.state = 'pending' AND i.role IS NULL AND i.expires_at > $2"
            }
        }
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
        match self {
            Which::Id(id) | Which::Workspace { id, .. } => query.bind(*id),
            Which::Token(hash) => query.bind(hash),
            Which::To { email, now } => query.bind(email).bind(*now),
            Which::Conversation { id, now } => query.bind(*id).bind(*now),
        }
    }
}

async fn load_invitations(pool: &sqlx::Pool<Db>, which: Which) -> Result<Vec<InvitationRow>> {
    let condition = which.condition();
    let rows = which
        .bind(sqlx::query(&format!(
            "SELECT i.id, i.workspace_id, w.name AS workspace_name, i.email, i.role, i.message, i.invited_by, \
               a.display_name AS inviter_name, i.created_at, i.sent_at, i.expires_at, i.state, i.accepted_by, \
               i.closed_at \
             FROM invitations i JOIN workspaces w ON w.id = i.workspace_id \
             LEFT JOIN accounts a ON a.id = i.invited_by \
             WHERE {condition} ORDER BY i.created_at DESC, i.id"
        )))
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let grant_rows = which
        .bind(sqlx::query(&format!(
            "SELECT ig.invitation_id, c.id, c.kind, c.title FROM invitation_grants ig \
             JOIN conversations c ON c.id = ig.conversation_id JOIN invitations i ON i.id = ig.invitation_id \
             WHERE {condition} ORDER BY c.kind, c.title, c.id"
        )))
        .fetch_all(pool)
        .await?;
    let mut grants: std::collections::HashMap<i64, Vec<GrantRow>> = std::collections::HashMap::new();
    for r in grant_rows {
        grants.entry(r.try_get("invitation_id")?).or_default().push(GrantRow {
            conversation_id: ConversationId(r.try_get("id")?),
            kind: parse_kind(&r.try_get::<String, _>("kind")?)?,
            title: r.try_get("title")?,
        });
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let role: Option<String> = r.try_get("role")?;
            let inviter: Option<i64> = r.try_get("invited_by")?;
            let inviter_name: Option<String> = r.try_get("inviter_name")?;
            let stored_state = match r.try_get::<String, _>("state")?.as_str() {
                "accepted" => InvitationState::Accepted,
                "revoked" => InvitationState::Revoked,
                _ => InvitationState::Pending,
            };
            Ok(InvitationRow {
                id: InvitationId(id),
                workspace_id: WorkspaceId(r.try_get("workspace_id")?),
                workspace_name: r.try_get("workspace_name")?,
                email: r.try_get("email")?,
                role: role.as_deref().map(parse_role).transpose()?,
                message: r.try_get("message")?,
                invited_by: inviter.zip(inviter_name).map(|(id, name)| (AccountId(id), name)),
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
                expires_at: r.try_get("expires_at")?,
                stored_state,
                accepted_by: r.try_get::<Option<i64>, _>("accepted_by")?.map(AccountId),
                closed_at: r.try_get("closed_at")?,
                grants: grants.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

#[async_trait]
impl InvitationStore for ThisStore {
    async fn create_invitations(&self, invitations: &[NewInvitation], audit: &[NewAudit]) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        let mut locked = Vec::new();
        for inv in invitations {
            if !locked.contains(&inv.workspace_id) {
                lock_workspace(&mut tx, inv.workspace_id).await?;
                locked.push(inv.workspace_id);
            }
            if inv.role.is_some() {
                // One live invitation into a workspace per address, and none for members.
                let taken = sqlx::query(
                    "SELECT 1 AS x FROM workspace_members m JOIN accounts a ON a.id = m.account_id \
                     WHERE m.workspace_id = $1 AND a.email = $2 \
                     UNION ALL SELECT 1 AS x FROM invitations i WHERE i.workspace_id = $1 AND i.email = $2 \
                     AND i.state = 'pending' AND i.role IS NOT NULL AND i.expires_at > $3",
                )
                .bind(inv.workspace_id.0)
                .bind(inv.email.as_str())
                .bind(inv.created_at)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Err(StoreError::AlreadyExists);
                }
            }
            insert_invitation(&mut tx, inv).await?;
        }
        for a in audit {
            record(&mut tx, a).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn invitation(&self, id: InvitationId) -> Result<Option<InvitationRow>> {
        Ok(load_invitations(self.reader(), Which::Id(id.0)).await?.pop())
    }

    async fn invitation_by_token(&self, token: &TokenHash) -> Result<Option<InvitationRow>> {
        Ok(load_invitations(self.reader(), Which::Token(token.0.clone())).await?.pop())
    }

    async fn workspace_invitations(&self, workspace: WorkspaceId, open_only: bool) -> Result<Vec<InvitationRow>> {
        load_invitations(self.reader(), Which::Workspace { id: workspace.0, open_only }).await
    }

    async fn invitations_to(&self, email: &Email, now: i64) -> Result<Vec<InvitationRow>> {
        load_invitations(self.reader(), Which::To { email: email.as_str().to_owned(), now }).await
    }

    async fn pending_for_conversation(&self, conversation: ConversationId, now: i64) -> Result<Vec<InvitationRow>> {
        load_invitations(self.reader(), Which::Conversation { id: conversation.0, now }).await
    }

    async fn resend_invitation(
        &self,
        id: InvitationId,
        token: &TokenHash,
        now: i64,
        expires_at: i64,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done = sqlx::query(
            "UPDATE invitations SET token_hash = $1, sent_at = $2, expires_at = $3 WHERE id = $4 AND state = 'pending'",
        )
        .bind(&token.0)
        .bind(now)
        .bind(expires_at)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let resent = done.rows_affected() == 1;
        if resent {
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(resent)
    }

    async fn revoke_invitation(&self, id: InvitationId, now: i64, audit: &NewAudit) -> Result<bool> {
        let mut tx = self.writer().begin().await?;
        let done =
            sqlx::query("UPDATE invitations SET state = 'revoked', closed_at = $1 WHERE id = $2 AND state = 'pending'")
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        let revoked = done.rows_affected() == 1;
        if revoked {
            record(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    async fn accept_invitation(&self, key: InvitationKey, acceptor: Acceptor, now: i64) -> Result<AcceptOutcome> {
        let mut tx = self.writer().begin().await?;
        // The claim: a conditional update that exactly one of concurrent acceptances wins
        // (the others wait on the row, then no longer match). Any error below rolls it back.
        let condition = match &key {
            InvitationKey::Token(_) => "token_hash = $2",
            InvitationKey::Id(_) => "id = $2",
        };
        let sql = format!(
            "UPDATE invitations SET state = 'accepted', closed_at = $1 \
             WHERE {condition} AND state = 'pending' AND expires_at > $1 RETURNING id, workspace_id, email, role"
        );
        let query = sqlx::query(&sql).bind(now);
        let query = match &key {
            InvitationKey::Token(hash) => query.bind(&hash.0),
            InvitationKey::Id(id) => query.bind(id.0),
        };
        let row = query.fetch_optional(&mut *tx).await?.ok_or(StoreError::NotFound)?;
        let invitation: i64 = row.try_get("id")?;
        let ws = WorkspaceId(row.try_get("workspace_id")?);
        let email: String = row.try_get("email")?;
        let offered: Option<String> = row.try_get("role")?;
        let offered = offered.as_deref().map(parse_role).transpose()?;
        let new_account = matches!(acceptor, Acceptor::NewAccount { .. });
        let account_id = match acceptor {
            Acceptor::Account(id) => {
                // Bound to the invited address: another account cannot use it.
                let own = sqlx::query("SELECT email FROM accounts WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get::<String, _>("email"))
                    .transpose()?;
                if own.as_deref() != Some(email.as_str()) {
                    return Err(StoreError::NotFound);
                }
                id
            }
            Acceptor::NewAccount { id, display_name, password_hash } => {
                let created = sqlx::query(
                    "INSERT INTO accounts (id, email, display_name, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
                )
                .bind(id.0)
                .bind(&email)
                .bind(display_name.as_str())
                .bind(password_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if created.is_none() {
                    return Err(StoreError::AlreadyExists);
                }
                sqlx::query("DELETE FROM signups WHERE email = $1").bind(&email).execute(&mut *tx).await?;
                id
            }
        };
        sqlx::query("UPDATE invitations SET accepted_by = $1 WHERE id = $2")
            .bind(account_id.0)
            .bind(invitation)
            .execute(&mut *tx)
            .await?;
        lock_workspace(&mut tx, ws).await?;
        let mut role = role_in(&mut tx, ws, account_id).await?;
        if let (Some(offered), None) = (offered, role) {
            if offered.takes_seat() && seats_used(&mut tx, ws).await? >= seat_limit(&mut tx, ws).await? {
                return Err(StoreError::SeatLimitReached);
            }
            sqlx::query(
                "INSERT INTO workspace_members (workspace_id, account_id, role, joined_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(ws.0)
            .bind(account_id.0)
            .bind(offered.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            role = Some(offered);
        }
        let grants = invitation_grants(&mut tx, invitation).await?;
        for &(c, kind) in &grants {
            grant(&mut tx, c, kind, account_id, now).await?;
        }
        check_lite_limit(&mut tx, ws, account_id).await?;
        let mut audit = NewAudit::new(ws, account_id, AuditAction::InvitationAccepted)
            .account(account_id)
            .email(&email)
            .detail(serde_json::json!({
                "invitation_id": invitation.to_string(),
                "role": offered.map(Role::as_str),
                "grants": grants.len(),
            }));
        audit.at = now;
        record(&mut tx, &audit).await?;
        let granted: Vec<ConversationId> = grants.iter().map(|&(c, _)| c).collect();
        let mut gained = granted.clone();
        if new_account {
            gained.extend(activate_guest_invitations(&mut tx, &email, account_id, now).await?);
        }
        let row = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"))
            .bind(account_id.0)
            .fetch_one(&mut *tx)
            .await?;
        let account = account(&row)?;
        tx.commit().await?;
        Ok(AcceptOutcome { account, workspace_id: ws, role, granted, gained })
    }
}

// ---------------------------------------------------------------------------------------
// Audit log

const AUDIT_SELECT: &str = "SELECT l.id, l.workspace_id, l.at, l.action, l.actor_id, ac.display_name AS actor_name, \
       l.account_id, aa.display_name AS account_name, l.email, l.conversation_id, c.title AS conversation_title, \
       l.detail \
     FROM audit_log l LEFT JOIN accounts ac ON ac.id = l.actor_id LEFT JOIN accounts aa ON aa.id = l.account_id \
     LEFT JOIN conversations c ON c.id = l.conversation_id";

fn audit_row(r: &DbRow) -> Result<AuditRow> {
    let pair = |id: &str, name: &str| -> Result<Option<(i64, String)>> {
        let id: Option<i64> = r.try_get(id)?;
        let name: Option<String> = r.try_get(name)?;
        Ok(id.zip(name))
    };
    Ok(AuditRow {
        id: r.try_get("id")?,
        workspace_id: WorkspaceId(r.try_get("workspace_id")?),
        at: r.try_get("at")?,
        action: parse_action(&r.try_get::<String, _>("action")?)?,
        actor: pair("actor_id", "actor_name")?.map(|(id, n)| (AccountId(id), n)),
        account: pair("account_id", "account_name")?.map(|(id, n)| (AccountId(id), n)),
        email: r.try_get("email")?,
        conversation: pair("conversation_id", "conversation_title")?.map(|(id, n)| (ConversationId(id), n)),
        detail: r.try_get("detail")?,
    })
}

#[async_trait]
impl AuditStore for ThisStore {
    async fn audit_entries(&self, workspace: WorkspaceId, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(&format!(
            "{AUDIT_SELECT} WHERE l.workspace_id = $1 \
               AND (CAST($2 AS BIGINT) IS NULL OR l.seq < (SELECT b.seq FROM audit_log b WHERE b.id = $2)) \
             ORDER BY l.seq DESC LIMIT $3"
        ))
        .bind(workspace.0)
        .bind(before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(audit_row).collect()
    }

    async fn audit_entry(&self, id: i64) -> Result<Option<AuditRow>> {
        let row =
            sqlx::query(&format!("{AUDIT_SELECT} WHERE l.id = $1")).bind(id).fetch_optional(self.reader()).await?;
        row.as_ref().map(audit_row).transpose()
    }
}
