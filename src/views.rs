//! Views: turning store rows into the protocol's types, once, for every transport (the
//! REST handlers and the gateway). Pure functions; no I/O.

use salon_protocol::gateway::ReadyConversation;
use salon_protocol::rest::{
    AuditEntry, AuditName, Conversation, Grant, Group, Invitation, Message, PendingPerson, Person, Reaction,
};
use salon_protocol::{AccountId, AuditId};

use crate::services::Page;
use crate::store::{AuditRow, ConversationSummary, GroupRow, InvitationRow, MessageExtras, MessageRow, PersonRow};

pub fn person(p: PersonRow) -> Person {
    Person { account_id: p.account_id, display_name: p.display_name, external: p.role.is_none() }
}

pub fn group_view((g, is_member): (GroupRow, bool)) -> Group {
    Group {
        id: g.group.id,
        workspace_id: g.group.workspace_id,
        name: g.group.title,
        archived: g.group.locked,
        member_count: g.member_count,
        is_member,
    }
}

/// Assembles message views with their reactions (aggregated for `viewer`) and mentions.
pub fn message_views(rows: Vec<MessageRow>, extras: &MessageExtras, viewer: AccountId) -> Vec<Message> {
    rows.into_iter()
        .map(|m| {
            let mut reactions: Vec<Reaction> = Vec::new();
            for (_, emoji, who) in extras.reactions.iter().filter(|(id, _, _)| *id == m.id) {
                match reactions.iter_mut().find(|r| &r.emoji == emoji) {
                    Some(r) => {
                        r.count += 1;
                        r.me |= *who == viewer;
                    }
                    None => reactions.push(Reaction { emoji: emoji.clone(), count: 1, me: *who == viewer }),
                }
            }
            let mentions = extras.mentions.iter().filter(|(id, _)| *id == m.id).map(|(_, a)| *a).collect();
            Message {
                id: m.id,
                conversation_id: m.conversation_id,
                seq: m.seq,
                author: person(m.author),
                body: m.body,
                reply_to: m.reply_to,
                mentions,
                reactions,
                client_id: m.client_id,
                created_at: m.created_at,
                edited_at: m.edited_at,
                deleted_at: m.deleted_at,
            }
        })
        .collect()
}

pub fn one_message(page: Page, viewer: AccountId) -> Message {
    message_views(page.messages, &page.extras, viewer).pop().expect("a page of one")
}

pub fn conversation_view(s: ConversationSummary, last: Option<MessageRow>, viewer: AccountId) -> Conversation {
    let c = s.conversation;
    let can_post = !c.locked && s.role != Some(crate::domain::Role::Lite);
    Conversation {
        id: c.id,
        workspace_id: c.workspace_id,
        kind: c.kind,
        title: c.title,
        locked: c.locked,
        last_seq: c.last_seq,
        unread: s.unread,
        read_seq: s.read_seq,
        has_externals: s.has_externals,
        can_post,
        last_message: last.map(|m| message_views(vec![m], &MessageExtras::default(), viewer).remove(0)),
        created_at: c.created_at,
    }
}

/// A conversation as `ready` and `conversation_added` carry it.
pub fn ready_conversation(s: &ConversationSummary) -> ReadyConversation {
    let c = &s.conversation;
    ReadyConversation {
        id: c.id,
        workspace_id: c.workspace_id,
        kind: c.kind,
        title: c.title.clone(),
        locked: c.locked,
        last_seq: c.last_seq,
        read_seq: s.read_seq,
        unread: s.unread,
    }
}

/// An invitation as of `now` (a pending one past its expiry shows as `expired`).
pub fn invitation_view(row: InvitationRow, now: i64) -> Invitation {
    let state = row.state_at(now);
    Invitation {
        id: row.id,
        workspace_id: row.workspace_id,
        email: row.email,
        role: row.role,
        state,
        grants: row
            .grants
            .into_iter()
            .map(|g| Grant { conversation_id: g.conversation_id, kind: g.kind, title: g.title })
            .collect(),
        message: row.message,
        // The inviter is a member of the workspace (or was): never external there.
        invited_by: row.invited_by.map(|(id, name)| Person { account_id: id, display_name: name, external: false }),
        created_at: row.created_at,
        sent_at: row.sent_at,
        expires_at: row.expires_at,
        accepted_by: row.accepted_by,
        closed_at: row.closed_at,
    }
}

/// A pending guest invitation as a member list shows it.
pub fn pending_person(row: InvitationRow) -> PendingPerson {
    PendingPerson { invitation_id: row.id, email: row.email, invited_at: row.sent_at, expires_at: row.expires_at }
}

pub fn audit_entry(row: AuditRow) -> AuditEntry {
    let name = |id: String, name: String| AuditName { id, name };
    AuditEntry {
        id: AuditId(row.id),
        workspace_id: row.workspace_id,
        at: row.at,
        action: row.action,
        actor: row.actor.map(|(id, n)| name(id.to_string(), n)),
        account: row.account.map(|(id, n)| name(id.to_string(), n)),
        email: row.email,
        conversation: row.conversation.map(|(id, n)| name(id.to_string(), n)),
        detail: serde_json::from_str(&row.detail).unwrap_or_else(|_| serde_json::json!({})),
    }
}
