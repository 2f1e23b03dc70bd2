//! Messages: post (idempotent by client id), history pages, edit, delete, reactions,
//! replies, mentions, read markers and search.
//!
//! Every call first asks the gate for the conversation: a caller who cannot see it gets
//! `NotFound`, whatever they asked. (Posts without mentions are the one exception: their
//! insert applies the gate's rule in the statement that writes; see `post_many`.) Writes
//! then require a writer (`lite` users get `ReadOnly`) and an open conversation
//! (`Locked`). Authors edit and delete their own messages; the workspace's owners, admins
//! and managers may also delete others' (and only in conversations they can see). A
//! deleted message stays as a tombstone with an empty body, so sequences have no gaps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::bus::Bus;
use crate::config::Config;
use crate::domain::{AccountId, ConversationId, Invalid, WorkspaceId, now_ms};
use crate::hub::Event;
use crate::metrics::Histogram;
use crate::services::{Access, Error, Membership, Result};
use crate::store::{MessageExtras, MessageRow, NewMessage, OnCommit, Posted, Refusal, Store};
use salon_protocol::gateway::ServerFrame;

/// The largest page of history one call returns.
pub const MAX_PAGE: i64 = 200;
pub const DEFAULT_PAGE: i64 = 50;
const MAX_MENTIONS: usize = 50;
const MAX_SEARCH_TERMS: usize = 16;

/// Which page of history: at most one of `before`, `after`, `around`; none means the
/// newest messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub around: Option<i64>,
    pub limit: Option<i64>,
}

/// Messages with their reactions and mentions, in sequence order.
pub struct Page {
    pub messages: Vec<MessageRow>,
    pub extras: MessageExtras,
    pub has_before: bool,
    pub has_after: bool,
}

/// One message to post, as a client sent it.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub conversation: ConversationId,
    pub body: String,
    pub client_id: Option<String>,
    pub reply_to: Option<i64>,
    pub mentions: Vec<AccountId>,
}

enum Prepared {
    /// Checked: the store decides the rest.
    Store(NewMessage),
    /// A resend of a stored message.
    Resent(MessageRow),
}

/// The gate's answers during one run of posts: the run is checked at one moment, as if
/// its posts had arrived together (the store's insert applies the rule again when it
/// writes).
#[derive(Default)]
struct GateCache {
    conversations: HashMap<ConversationId, Option<Access>>,
    sees: HashMap<(AccountId, ConversationId), bool>,
}

impl GateCache {
    async fn conversation(&mut self, gate: &Membership, caller: AccountId, id: ConversationId) -> Result<Access> {
        if let Some(known) = self.conversations.get(&id) {
            return known.clone().ok_or(Error::NotFound);
        }
        let answer = match gate.conversation(caller, id).await {
            Ok(access) => Some(access),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        self.conversations.insert(id, answer.clone());
        answer.ok_or(Error::NotFound)
    }

    async fn can_see(&mut self, gate: &Membership, account: AccountId, id: ConversationId) -> Result<bool> {
        if let Some(&known) = self.sees.get(&(account, id)) {
            return Ok(known);
        }
        let sees = gate.can_see(account, id).await?;
        self.sees.insert((account, id), sees);
        Ok(sees)
    }
}

pub struct Messages {
    store: Arc<dyn Store>,
    membership: Arc<Membership>,
    max_body_bytes: usize,
    bus: Arc<Bus>,
    /// Publishes a stored message (`announce`), run by the store's committer.
    on_commit: OnCommit,
    /// Each stored post's time in the store: from handing it over (SQLite: to its
    /// committer's queue) to having the commit's answer. That includes the wait to be
    /// resumed: on SQLite the committer's thread answers after publishing, and the posting
    /// task then waits its turn on the runtime behind the sockets the publish woke (with
    /// 1,000 of them, milliseconds). Beside a client's acknowledgement time, it says how
    /// much of that was the database.
    pub commit_latency: Histogram,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Invalid { field, message: message.into() }.into()
}

fn no_such_reply() -> Error {
    invalid("reply_to", "is not a message of this conversation")
}

/// The answer to a post the store refused.
fn refused(why: Refusal) -> Result<(MessageRow, bool)> {
    match why {
        Refusal::Resent(existing) => Ok((existing, false)),
        Refusal::ClientIdReused => Err(Error::ClientIdReused),
        Refusal::ReadOnly => Err(Error::ReadOnly),
        Refusal::Locked => Err(Error::Locked),
        Refusal::NoSuchReply => Err(no_such_reply()),
        // Allowed a moment later: as if it had arrived a moment earlier, when it was not.
        Refusal::NotFound | Refusal::Changed => Err(Error::NotFound),
    }
}

/// An emoji (or short reaction name): 1 to 32 bytes, no white space or control characters.
fn check_emoji(emoji: &str) -> Result<()> {
    if emoji.is_empty() || emoji.len() > 32 || emoji.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(invalid("emoji", "must be 1 to 32 bytes without spaces"));
    }
    Ok(())
}

/// Publishes a stored message to everyone listening to its conversation.
fn announce(bus: &Bus, message: &MessageRow, mentions: &[AccountId]) {
    let extras = MessageExtras { reactions: vec![], mentions: mentions.iter().map(|a| (message.id, *a)).collect() };
    let view = crate::views::message_views(vec![message.clone()], &extras, message.author.account_id).remove(0);
    let frame = ServerFrame::MessageCreated { message: view };
    bus.publish(message.conversation_id, Event::new(Some(message.conversation_id), Some(message.seq), &frame));
}

impl Messages {
    /// The message to store for a post, with a new id (the store's) and the time now.
    fn new_message(&self, author: AccountId, post: NewPost, mentions: Vec<AccountId>) -> NewMessage {
        let created_at = now_ms();
        NewMessage {
            id: self.store.new_message_id(created_at),
            conversation_id: post.conversation,
            author,
            body: post.body,
            reply_to: post.reply_to,
            client_id: post.client_id,
            mentions,
            created_at,
        }
    }

    pub fn new(config: &Config, store: Arc<dyn Store>, membership: Arc<Membership>, bus: Arc<Bus>) -> Messages {
        let publisher = bus.clone();
        let on_commit: OnCommit = Arc::new(move |message: &MessageRow, mentions: &[AccountId]| {
            announce(&publisher, message, mentions);
        });
        Messages {
            store,
            membership,
            max_body_bytes: config.messages.max_body_bytes,
            bus,
            on_commit,
            commit_latency: Histogram::latency(),
        }
    }

    fn check_body(&self, body: &str) -> Result<()> {
        if body.trim().is_empty() {
            return Err(invalid("body", "is empty"));
        }
        if body.len() > self.max_body_bytes {
            return Err(invalid("body", format!("is longer than {} bytes", self.max_body_bytes)));
        }
        Ok(())
    }

    /// Posts a message. Returns it and whether it is new (`false`: a resend of the same
    /// client id and body, answered with the original).
    pub async fn post(&self, caller: AccountId, post: NewPost) -> Result<(MessageRow, bool)> {
        self.post_many(caller, vec![post]).await.pop().expect("one answer per post")
    }

    /// Posts a run of one caller's messages, in order: each is checked and answered as
    /// [`Messages::post`] would, alone, and a later one in a conversation gets a higher
    /// sequence. The store may commit the run together. Answers come in the order of
    /// `posts`.
    ///
    /// A run without mentions goes to the store without asking the gate: each post's
    /// insert applies the gate's rule itself (the same predicate, in the statement that
    /// writes, under the conversation's row lock, so a removal that commits first wins)
    /// and the rules of writing. A post it refuses is explained by the store at that
    /// moment, in the order the rules apply here, and only an author who sees the
    /// conversation learns more than `NotFound` (`Refusal`). A run with a mention asks the
    /// gate first, once per conversation of the run: each mentioned account must see the
    /// conversation.
    pub async fn post_many(&self, caller: AccountId, posts: Vec<NewPost>) -> Vec<Result<(MessageRow, bool)>> {
        let mut answers: Vec<Option<Result<(MessageRow, bool)>>> = (0..posts.len()).map(|_| None).collect();
        let mut pending = Vec::with_capacity(posts.len());
        for (i, post) in posts.into_iter().enumerate() {
            match self.check_post(&post) {
                Ok(()) => pending.push((i, post)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let mut stored = Vec::with_capacity(pending.len());
        let mut batch = Vec::with_capacity(pending.len());
        if pending.iter().all(|(_, post)| post.mentions.is_empty()) {
            for (i, post) in pending {
                stored.push(i);
                batch.push(self.new_message(caller, post, vec![]));
            }
        } else {
            let mut gate = GateCache::default();
            for (i, post) in pending {
                match self.prepare(caller, post, &mut gate).await {
                    Ok(Prepared::Store(new)) => {
                        stored.push(i);
                        batch.push(new);
                    }
                    Ok(Prepared::Resent(existing)) => answers[i] = Some(Ok((existing, false))),
                    Err(e) => answers[i] = Some(Err(e)),
                }
            }
        }
        if !batch.is_empty() {
            // Each created message is published by the committer (`on_commit`).
            let started = Instant::now();
            let results = self.store.post_messages(batch, Some(self.on_commit.clone())).await;
            self.commit_latency.observe_many(started.elapsed(), results.len() as u64);
            for (i, result) in stored.into_iter().zip(results) {
                answers[i] = Some(match result {
                    Ok(Posted::Created(m)) => Ok((m, true)),
                    Ok(Posted::Refused(why)) => refused(why),
                    Err(e) => Err(e.into()),
                });
            }
        }
        answers.into_iter().map(|a| a.expect("every post answered")).collect()
    }

    /// The checks of a post that need no database.
    fn check_post(&self, post: &NewPost) -> Result<()> {
        self.check_body(&post.body)?;
        if let Some(id) = &post.client_id
            && (id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control))
        {
            return Err(invalid("client_id", "must be 1 to 64 characters"));
        }
        if post.mentions.len() > MAX_MENTIONS {
            return Err(invalid("mentions", format!("at most {MAX_MENTIONS}")));
        }
        Ok(())
    }

    /// Checks one post as the gate and the rules say, up to what the store decides.
    /// (`check_post` has passed.)
    async fn prepare(&self, caller: AccountId, post: NewPost, gate: &mut GateCache) -> Result<Prepared> {
        let conversation = post.conversation;
        let access = gate.conversation(&self.membership, caller, conversation).await?;
        // A resend is answered with the original, whatever changed since (a close, a role).
        if let Some(id) = &post.client_id
            && let Some(existing) = self.store.message_by_client_id(conversation, caller, id).await?
        {
            return if existing.body == post.body {
                Ok(Prepared::Resent(existing))
            } else {
                Err(Error::ClientIdReused)
            };
        }
        access.require_write()?;
        if let Some(target) = post.reply_to
            && !(1..=access.conversation.last_seq).contains(&target)
        {
            return Err(no_such_reply());
        }
        let mut unique = Vec::with_capacity(post.mentions.len());
        for &m in &post.mentions {
            if unique.contains(&m) {
                continue;
            }
            if !gate.can_see(&self.membership, m, conversation).await? {
                return Err(invalid("mentions", format!("{m} cannot see this conversation")));
            }
            unique.push(m);
        }
        Ok(Prepared::Store(self.new_message(caller, post, unique)))
    }

    pub async fn history(&self, caller: AccountId, conversation: ConversationId, q: HistoryQuery) -> Result<Page> {
        let anchors = [q.before, q.after, q.around].iter().filter(|a| a.is_some()).count();
        if anchors > 1 {
            return Err(invalid("before", "give at most one of before, after and around"));
        }
        let limit = q.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
        }
        // Sequences fit far below this; refusing larger anchors keeps the arithmetic safe.
        if [q.before, q.after, q.around].iter().flatten().any(|s| !(0..=i64::MAX / 4).contains(s)) {
            return Err(invalid("before", "a sequence is a number from 0 to 2^61"));
        }
        let access = self.membership.conversation(caller, conversation).await?;
        let last = access.conversation.last_seq;
        // Every sequence from 1 to `last` has a row (deleted messages stay as
        // tombstones), so a page is a range of sequences.
        let (from, to) = match (q.before, q.after, q.around) {
            (Some(b), _, _) => ((b - limit).max(1), (b - 1).min(last)),
            (_, Some(a), _) => (a + 1, (a + limit).min(last)),
            (_, _, Some(c)) => {
                let from = (c - limit / 2).max(1);
                (from, (from + limit - 1).min(last))
            }
            _ => ((last - limit + 1).max(1), last),
        };
        let messages = if from <= to { self.store.messages(conversation, from, to).await? } else { vec![] };
        let extras = if messages.is_empty() {
            MessageExtras::default()
        } else {
            self.store.extras(conversation, from, to).await?
        };
        let (has_before, has_after) = match (messages.first(), messages.last()) {
            (Some(first), Some(last_row)) => (first.seq > 1, last_row.seq < last),
            _ => (from > 1 && last > 0, to < last),
        };
        Ok(Page { messages, extras, has_before, has_after })
    }

    pub async fn get(&self, caller: AccountId, conversation: ConversationId, seq: i64) -> Result<Page> {
        self.membership.conversation(caller, conversation).await?;
        let message = self.store.message(conversation, seq).await?.ok_or(Error::NotFound)?;
        let extras = self.store.extras(conversation, seq, seq).await?;
        Ok(Page { messages: vec![message], extras, has_before: false, has_after: false })
    }

    pub async fn edit(&self, caller: AccountId, conversation: ConversationId, seq: i64, body: String) -> Result<Page> {
        self.check_body(&body)?;
        let access = self.membership.conversation(caller, conversation).await?;
        let message = self.store.message(conversation, seq).await?.ok_or(Error::NotFound)?;
        access.require_write()?;
        if message.author.account_id != caller {
            return Err(Error::Forbidden("only the author edits a message"));
        }
        if message.deleted_at.is_some() {
            return Err(Error::NotFound);
        }
        let now = now_ms();
        self.store.edit_message(conversation, seq, caller, &body, now).await?;
        let frame = ServerFrame::MessageEdited { conversation_id: conversation, seq, body, edited_at: now };
        self.bus.publish(conversation, Event::new(Some(conversation), None, &frame));
        self.get(caller, conversation, seq).await
    }

    pub async fn delete(&self, caller: AccountId, conversation: ConversationId, seq: i64) -> Result<()> {
        let access = self.membership.conversation(caller, conversation).await?;
        let message = self.store.message(conversation, seq).await?.ok_or(Error::NotFound)?;
        if access.moderates() {
            // Moderators remove messages even from closed conversations.
        } else {
            access.require_write()?;
            if message.author.account_id != caller {
                return Err(Error::Forbidden("only the author or a manager deletes a message"));
            }
        }
        if message.deleted_at.is_some() {
            return Err(Error::NotFound);
        }
        let now = now_ms();
        self.store.delete_message(conversation, seq, caller, now).await?;
        let frame = ServerFrame::MessageDeleted { conversation_id: conversation, seq, deleted_at: now };
        self.bus.publish(conversation, Event::new(Some(conversation), None, &frame));
        Ok(())
    }

    /// Adds (`add`) or removes the caller's reaction.
    pub async fn react(
        &self,
        caller: AccountId,
        conversation: ConversationId,
        seq: i64,
        emoji: &str,
        add: bool,
    ) -> Result<()> {
        check_emoji(emoji)?;
        let access = self.membership.conversation(caller, conversation).await?;
        let message = self.store.message(conversation, seq).await?.ok_or(Error::NotFound)?;
        access.require_write()?;
        if message.deleted_at.is_some() {
            return Err(Error::NotFound);
        }
        let (conversation_id, emoji_owned, account_id) = (conversation, emoji.to_owned(), caller);
        let frame = if add {
            if !self.store.add_reaction(conversation, message.id, caller, emoji, now_ms()).await? {
                return Ok(());
            }
            ServerFrame::ReactionAdded { conversation_id, seq, emoji: emoji_owned, account_id }
        } else {
            if !self.store.remove_reaction(conversation, message.id, caller, emoji).await? {
                return Err(Error::NotFound);
            }
            ServerFrame::ReactionRemoved { conversation_id, seq, emoji: emoji_owned, account_id }
        };
        self.bus.publish(conversation, Event::new(Some(conversation), None, &frame));
        Ok(())
    }

    /// Moves the caller's read marker forward to `seq` (at most the newest message).
    /// Reading changes nothing anyone else sees, so `lite` users may.
    pub async fn mark_read(&self, caller: AccountId, conversation: ConversationId, seq: i64) -> Result<i64> {
        if seq < 0 {
            return Err(invalid("seq", "must not be negative"));
        }
        let access = self.membership.conversation(caller, conversation).await?;
        let seq = seq.min(access.conversation.last_seq);
        let now_at = self.store.mark_read(caller, conversation, seq).await?;
        // Every socket of the account learns it (other devices clear their badges).
        let frame = ServerFrame::ReadMarker { conversation_id: conversation, seq: now_at };
        self.bus.to_account(caller, Event::new(Some(conversation), None, &frame));
        Ok(now_at)
    }

    /// Full-text search over what the caller can read: every word of `query` must occur.
    pub async fn search(
        &self,
        caller: AccountId,
        query: &str,
        workspace: Option<WorkspaceId>,
        limit: Option<i64>,
    ) -> Result<Vec<(MessageRow, MessageExtras, WorkspaceId)>> {
        let terms: Vec<String> =
            query.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(|t| t.to_lowercase()).collect();
        if terms.is_empty() || query.len() > 256 {
            return Err(invalid("q", "give 1 to 256 characters with at least one word"));
        }
        if terms.len() > MAX_SEARCH_TERMS || terms.iter().any(|t| t.chars().count() > 64) {
            return Err(invalid("q", format!("at most {MAX_SEARCH_TERMS} words of at most 64 characters")));
        }
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(invalid("limit", format!("must be between 1 and {MAX_PAGE}")));
        }
        let hits = self.store.search(caller, &terms, workspace, limit).await?;
        let mut workspaces = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            let extras = self.store.extras(hit.conversation_id, hit.seq, hit.seq).await?;
            let ws = match workspaces.get(&hit.conversation_id) {
                Some(ws) => *ws,
                None => {
                    let conversation = self.store.conversation(hit.conversation_id).await?.ok_or(Error::NotFound)?;
                    workspaces.insert(hit.conversation_id, conversation.workspace_id);
                    conversation.workspace_id
                }
            };
            out.push((hit, extras, ws));
        }
        Ok(out)
    }
}
