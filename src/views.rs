//! Views: turning store rows into the protocol's types, once, for every transport (the
//! REST handlers and the gateway). Pure functions; no I/O.

use salon_protocol::AccountId;
use salon_protocol::gateway::ReadyConversation;
use salon_protocol::rest::{Conversation, Group, Message, Person, Reaction};

use crate::services::Page;
use crate::store::{ConversationSummary, GroupRow, MessageExtras, MessageRow, PersonRow};

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
