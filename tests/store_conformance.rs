//! The store conformance suite: the same promises checked against SQLite and PostgreSQL
//! through the `Store` interface, each test on a fresh database. Concurrency tests race
//! real writers; the store must keep its invariants on both backends.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use salon::config::{Backend, DatabaseConfig, Secret};
use salon::crypto::{Token, TokenHash, random_id};
use salon::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, DisplayName, Email, MessageId, Role, WorkspaceId,
    WorkspaceName,
};
use salon::store::{
    self, NewAudit, NewConversation, NewMail, NewMessage, NewSignup, Posted, Refusal, Store, StoreError, Successor,
};

on_both_backends!(
    migrations_are_idempotent,
    signup_completes_once_and_not_after_expiry,
    one_account_per_address,
    sessions_expire_and_are_deleted,
    password_change_keeps_only_the_named_session,
    reset_tokens_work_once_and_end_sessions,
    workspace_roles_and_seats,
    concurrent_promotions_never_exceed_the_seat_limit,
    concurrent_demotions_always_leave_an_owner,
    each_mail_is_claimed_once,
    concurrent_posts_number_gaplessly_and_fail_alone,
    a_run_of_posts_keeps_its_order_and_fails_alone,
    a_post_is_stored_only_if_its_author_may_write_there,
    runs_across_conversations_race_removals_without_errors,
    runs_across_conversations_race_handovers_without_errors,
    new_message_ids_do_not_repeat,
    a_post_whose_id_is_taken_is_stored_under_another,
);

async fn open(backend: Backend) -> Arc<dyn Store> {
    let config = DatabaseConfig {
        url: Secret(common::fresh_database(backend).await),
        max_connections: 8,
        sqlite_synchronous: "normal".into(),
    };
    store::connect(&config, backend, true).await.expect("the store opens")
}

/// An audit entry with no actor (the store records it only if the change happens).
fn audit(ws: WorkspaceId) -> NewAudit {
    let mut a = NewAudit::new(ws, AccountId(0), AuditAction::RoleChanged);
    a.actor = None;
    a
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

/// A sign-up waiting for verification, valid from `created_at` until `expires_at`.
async fn pending_signup(store: &Arc<dyn Store>, token: &Token, address: &str, created_at: i64, expires_at: i64) {
    store
        .create_signup(NewSignup {
            token_hash: token.hash(),
            email: email(address),
            display_name: DisplayName::parse("n", "Someone").unwrap(),
            password_hash: "hash".into(),
            created_at,
            expires_at,
        })
        .await
        .unwrap();
}

async fn account(store: &Arc<dyn Store>, address: &str) -> AccountId {
    let token = Token::generate();
    pending_signup(store, &token, address, 1_000, 2_000).await;
    store.complete_signup(&token.hash(), 1_000, AccountId(random_id())).await.unwrap().expect("created").id
}

/// A workspace owned by `owner` (ten seats, five lite grants).
async fn workspace(store: &Arc<dyn Store>, owner: AccountId) -> WorkspaceId {
    let ws = WorkspaceId(random_id());
    store.create_workspace(ws, &WorkspaceName::parse("n", "W").unwrap(), owner, 10, 5, 0).await.unwrap();
    ws
}

/// A group in `ws` made by `creator`, with `members`.
fn group(ws: WorkspaceId, creator: AccountId, members: Vec<AccountId>) -> NewConversation {
    NewConversation { kind: ConversationKind::Group, participants: vec![], members, ..thread(ws, creator, "g") }
}

/// A thread in `ws` started by `creator`, addressed to them alone.
/// A post of `body` by `author`, nothing else set.
fn plain_post(conversation: ConversationId, author: AccountId, body: String) -> NewMessage {
    NewMessage {
        id: MessageId(random_id()),
        conversation_id: conversation,
        author,
        body,
        reply_to: None,
        client_id: None,
        mentions: vec![],
        created_at: 1,
    }
}

fn thread(ws: WorkspaceId, creator: AccountId, title: &str) -> NewConversation {
    NewConversation {
        id: ConversationId(random_id()),
        workspace_id: ws,
        kind: ConversationKind::Thread,
        title: title.into(),
        created_by: creator,
        created_at: 0,
        direct_key: None,
        groups: vec![],
        participants: vec![creator],
        members: vec![],
    }
}

async fn migrations_are_idempotent(backend: Backend) {
    let store = open(backend).await;
    store.migrate().await.expect("a second run applies nothing and fails nothing");
    store.ping().await.unwrap();
    // Every file under migrations/<backend>/ is embedded, in order.
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let mut files: Vec<String> = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let embedded: Vec<String> =
        store::migration_files(backend).iter().map(|(v, d, _)| format!("{v:04}_{d}.sql")).collect();
    assert_eq!(files, embedded);
}

async fn signup_completes_once_and_not_after_expiry(backend: Backend) {
    let store = open(backend).await;
    let live = Token::generate();
    let stale = Token::generate();
    for (token, address) in [(&live, "a@example.com"), (&stale, "b@example.com")] {
        pending_signup(&store, token, address, 0, 100).await;
    }
    assert!(store.complete_signup(&stale.hash(), 100, AccountId(random_id())).await.unwrap().is_none());
    assert!(store.account_by_email(&email("b@example.com")).await.unwrap().is_none());
    assert!(store.complete_signup(&stale.hash(), 1, AccountId(random_id())).await.unwrap().is_none(), "consumed");

    let created = store.complete_signup(&live.hash(), 99, AccountId(random_id())).await.unwrap().unwrap();
    assert_eq!(created.email.as_str(), "a@example.com");
    assert!(store.complete_signup(&live.hash(), 99, AccountId(random_id())).await.unwrap().is_none());
    let found = store.account_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(found.email, created.email);
}

async fn one_account_per_address(backend: Backend) {
    let store = open(backend).await;
    let first = Token::generate();
    let second = Token::generate();
    for token in [&first, &second] {
        pending_signup(&store, token, "same@example.com", 0, 100).await;
    }
    assert!(store.complete_signup(&second.hash(), 1, AccountId(random_id())).await.unwrap().is_some());
    assert!(
        store.complete_signup(&first.hash(), 1, AccountId(random_id())).await.unwrap().is_none(),
        "other pending sign-ups for the address are void once it has an account"
    );
}

async fn sessions_expire_and_are_deleted(backend: Backend) {
    let store = open(backend).await;
    let id = account(&store, "s@example.com").await;
    let token = TokenHash::of("session");
    store.create_session(&token, id, 0, 1_000).await.unwrap();
    assert_eq!(store.session_account(&token, 999).await.unwrap().unwrap().id, id);
    assert!(store.session_account(&token, 1_000).await.unwrap().is_none(), "expired");
    store.delete_session(&token).await.unwrap();
    assert!(store.session_account(&token, 0).await.unwrap().is_none(), "deleted");

    store.create_session(&TokenHash::of("one"), id, 0, 1_000).await.unwrap();
    store.create_session(&TokenHash::of("two"), id, 0, 1_000).await.unwrap();
    store.delete_sessions(id).await.unwrap();
    assert!(store.session_account(&TokenHash::of("one"), 0).await.unwrap().is_none());
    assert!(store.session_account(&TokenHash::of("two"), 0).await.unwrap().is_none());
}

async fn password_change_keeps_only_the_named_session(backend: Backend) {
    let store = open(backend).await;
    let id = account(&store, "p@example.com").await;
    for t in ["keep", "drop1", "drop2"] {
        store.create_session(&TokenHash::of(t), id, 0, 1_000).await.unwrap();
    }
    store.set_password(id, "new-hash", Some(&TokenHash::of("keep"))).await.unwrap();
    assert!(store.session_account(&TokenHash::of("keep"), 0).await.unwrap().is_some());
    assert!(store.session_account(&TokenHash::of("drop1"), 0).await.unwrap().is_none());
    assert_eq!(store.account_by_id(id).await.unwrap().unwrap().password_hash, "new-hash");
    store.set_password(id, "newer", None).await.unwrap();
    assert!(store.session_account(&TokenHash::of("keep"), 0).await.unwrap().is_none());
    assert!(matches!(store.set_password(AccountId(1), "x", None).await, Err(StoreError::NotFound)));
}

async fn reset_tokens_work_once_and_end_sessions(backend: Backend) {
    let store = open(backend).await;
    let id = account(&store, "r@example.com").await;
    store.create_session(&TokenHash::of("s"), id, 0, 1_000).await.unwrap();
    store.create_reset(&TokenHash::of("old"), id, 0, 50).await.unwrap();
    store.create_reset(&TokenHash::of("new"), id, 0, 500).await.unwrap();
    assert!(store.complete_reset(&TokenHash::of("old"), 60, "x").await.unwrap().is_none(), "expired");
    assert_eq!(store.complete_reset(&TokenHash::of("new"), 60, "reset-hash").await.unwrap(), Some(id));
    assert!(store.complete_reset(&TokenHash::of("new"), 60, "again").await.unwrap().is_none(), "used");
    assert!(store.session_account(&TokenHash::of("s"), 0).await.unwrap().is_none());
    assert_eq!(store.account_by_id(id).await.unwrap().unwrap().password_hash, "reset-hash");
}

async fn workspace_roles_and_seats(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "o@example.com").await;
    let other = account(&store, "m@example.com").await;
    let ws = WorkspaceId(random_id());
    let name = WorkspaceName::parse("name", "W").unwrap();
    let row = store.create_workspace(ws, &name, owner, 1, 5, 5).await.unwrap();
    assert_eq!((row.seats_used, row.seat_limit), (1, 1));
    assert!(matches!(store.add_member(ws, other, Role::Member, 6).await, Err(StoreError::SeatLimitReached)));
    store.add_member(ws, other, Role::Lite, 6).await.unwrap();
    assert!(matches!(store.add_member(ws, other, Role::Lite, 6).await, Err(StoreError::AlreadyExists)));
    assert!(matches!(
        store.change_role(ws, other, Role::Member, true, &audit(ws)).await,
        Err(StoreError::SeatLimitReached)
    ));
    assert!(matches!(store.set_seat_limit(ws, 0).await, Err(StoreError::SeatLimitBelowUsed)));
    store.set_seat_limit(ws, 2).await.unwrap();
    store.change_role(ws, other, Role::Member, true, &audit(ws)).await.unwrap();
    assert!(matches!(
        store.change_role(ws, other, Role::Owner, false, &audit(ws)).await,
        Err(StoreError::OwnerProtected)
    ));
    assert!(matches!(store.change_role(ws, owner, Role::Admin, true, &audit(ws)).await, Err(StoreError::LastOwner)));
    assert!(matches!(store.remove_member(ws, owner, true, &audit(ws)).await, Err(StoreError::LastOwner)));
    assert!(matches!(store.remove_member(ws, owner, false, &audit(ws)).await, Err(StoreError::OwnerProtected)));
    assert!(matches!(
        store.change_role(WorkspaceId(1), other, Role::Member, true, &audit(ws)).await,
        Err(StoreError::NotFound)
    ));

    let mine = store.workspaces_of(other).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.seats_used, mine[0].1), (2, Role::Member));
    store.rename_workspace(ws, &WorkspaceName::parse("name", "W2").unwrap()).await.unwrap();
    assert_eq!(store.workspace(ws).await.unwrap().unwrap().name, "W2");
    assert_eq!(store.members(ws).await.unwrap().len(), 2);
    store.remove_member(ws, other, false, &audit(ws)).await.unwrap();
    assert_eq!(store.member_role(ws, other).await.unwrap(), None);
    assert!(matches!(store.remove_member(ws, other, true, &audit(ws)).await, Err(StoreError::NotFound)));
}

async fn concurrent_promotions_never_exceed_the_seat_limit(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let ws = WorkspaceId(random_id());
    store.create_workspace(ws, &WorkspaceName::parse("n", "W").unwrap(), owner, 3, 5, 0).await.unwrap();
    let mut lites = Vec::new();
    for i in 0..8 {
        let id = account(&store, &format!("lite{i}@example.com")).await;
        store.add_member(ws, id, Role::Lite, 0).await.unwrap();
        lites.push(id);
    }
    let tasks: Vec<_> = lites
        .into_iter()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move { store.change_role(ws, id, Role::Member, true, &audit(ws)).await })
        })
        .collect();
    let mut promoted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => promoted += 1,
            Err(StoreError::SeatLimitReached) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(promoted, 2, "three seats: the owner and two promoted");
    assert_eq!(store.workspace(ws).await.unwrap().unwrap().seats_used, 3);
}

async fn concurrent_demotions_always_leave_an_owner(backend: Backend) {
    let store = open(backend).await;
    let mut owners = Vec::new();
    for i in 0..4 {
        owners.push(account(&store, &format!("owner{i}@example.com")).await);
    }
    let ws = WorkspaceId(random_id());
    store.create_workspace(ws, &WorkspaceName::parse("n", "W").unwrap(), owners[0], 10, 5, 0).await.unwrap();
    for id in &owners[1..] {
        store.add_member(ws, *id, Role::Owner, 0).await.unwrap();
    }
    let tasks: Vec<_> = owners
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (store, id) = (store.clone(), *id);
            tokio::spawn(async move {
                if i % 2 == 0 {
                    store.change_role(ws, id, Role::Member, true, &audit(ws)).await
                } else {
                    store.remove_member(ws, id, true, &audit(ws)).await
                }
            })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::LastOwner) => refused += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(refused, 1);
    let remaining = store.members(ws).await.unwrap().into_iter().filter(|m| m.role == Role::Owner).count();
    assert_eq!(remaining, 1);
}

async fn each_mail_is_claimed_once(backend: Backend) {
    let store = open(backend).await;
    for i in 0..40 {
        store
            .enqueue_mail(NewMail {
                id: random_id(),
                recipient: format!("r{i}@example.com"),
                subject: "s".into(),
                body: "b".into(),
                created_at: 10,
            })
            .await
            .unwrap();
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_mail(100, 1_000, 7).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|m| m.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 40, "every message claimed");
    assert_eq!(unique.len(), 40, "no message claimed twice");
    assert!(store.claim_mail(999, 2_000, 100).await.unwrap().is_empty(), "leased until 1000");

    let (sent, failed) = (all[0], all[1]);
    store.mail_sent(sent, 1_000).await.unwrap();
    store.mail_failed(failed, 5_000, "smtp down").await.unwrap();
    let due: Vec<i64> = store.claim_mail(1_000, 2_000, 100).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(due.len(), 38, "lease over: all but the sent one and the one retrying later");
    assert!(!due.contains(&sent) && !due.contains(&failed));
    let retried = store.claim_mail(5_000, 6_000, 100).await.unwrap();
    assert!(retried.iter().any(|m| m.id == failed && m.attempts == 2));
}

/// Message ids made in one burst never repeat, and SQLite's grow with time, so posts
/// append to the messages table rather than land at random pages of it.
async fn new_message_ids_do_not_repeat(backend: Backend) {
    let store = open(backend).await;
    let now = salon::domain::now_ms();
    // Many in one millisecond, as under load; SQLite's also in the order they were made.
    let ids: Vec<i64> = (0..10_000).map(|_| store.new_message_id(now).0).collect();
    assert!(ids.iter().all(|&id| id > 0));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    if backend == Backend::Sqlite {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "SQLite's message ids grow");
    }
}

/// A post whose random id happens to be taken already is stored under a fresh one, alone or
/// in a group commit, and the post beside it in that commit is not lost.
async fn a_post_whose_id_is_taken_is_stored_under_another(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let ws = workspace(&store, owner).await;
    let a = store.create_conversation(thread(ws, owner, "a"), &[]).await.unwrap().id;
    let b = store.create_conversation(thread(ws, owner, "b"), &[]).await.unwrap().id;
    let post = |id, conversation, body: &str| NewMessage {
        id: MessageId(id),
        conversation_id: conversation,
        author: owner,
        body: body.into(),
        reply_to: None,
        client_id: None,
        mentions: vec![],
        created_at: 1,
    };
    let taken = random_id();
    let Posted::Created(first) = store.post_message(post(taken, a, "first")).await.unwrap() else { panic!() };
    assert_eq!(first.id, MessageId(taken));
    // Alone, and in a run with a post that goes in (which must not be lost with it).
    let Posted::Created(second) = store.post_message(post(taken, b, "second")).await.unwrap() else { panic!() };
    let run = store.post_messages(vec![post(random_id(), a, "third"), post(taken, a, "fourth")], None).await;
    let [Ok(Posted::Created(third)), Ok(Posted::Created(fourth))] = &run[..] else { panic!("{run:?}") };
    assert_ne!(second.id, first.id);
    assert_ne!(fourth.id, first.id);
    assert_eq!((second.seq, third.seq, fourth.seq), (1, 2, 3));
    for (conversation, seq, body) in [(a, 1, "first"), (b, 1, "second"), (a, 2, "third"), (a, 3, "fourth")] {
        assert_eq!(store.message(conversation, seq).await.unwrap().unwrap().body, body);
    }
    assert_eq!(store.message(a, 3).await.unwrap().unwrap().id, fourth.id);
}

/// Posts racing each other (on SQLite they share group commits) each get the next number
/// exactly once, and a post that is refused (an outsider's, one to a closed conversation,
/// a resend) is refused alone, for its reason, and takes no number.
async fn concurrent_posts_number_gaplessly_and_fail_alone(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let outsider = account(&store, "outsider@example.com").await;
    let ws = workspace(&store, owner).await;
    let conversation = |title: &str| thread(ws, owner, title);
    let open_one = store.create_conversation(conversation("open"), &[]).await.unwrap().id;
    let closed = store.create_conversation(conversation("closed"), &[]).await.unwrap().id;
    store.update_conversation(closed, None, Some(true)).await.unwrap();
    let post = |conversation, author, body: String, client_id: Option<&str>| NewMessage {
        id: MessageId(random_id()),
        conversation_id: conversation,
        author,
        body,
        reply_to: None,
        client_id: client_id.map(str::to_owned),
        mentions: vec![],
        created_at: 1,
    };
    let first = store.post_message(post(open_one, owner, "first".into(), Some("c-1"))).await.unwrap();
    assert!(matches!(first, Posted::Created(ref m) if m.seq == 1 && m.author.role == Some(Role::Owner)));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let new = match i % 5 {
            0 => post(open_one, outsider, format!("outsider {i}"), None),
            1 => post(closed, owner, format!("closed {i}"), None),
            2 => post(open_one, owner, "first".into(), Some("c-1")),
            _ => post(open_one, owner, format!("m {i}"), Some(&format!("k-{i}"))),
        };
        let store = store.clone();
        tasks.push(tokio::spawn(async move { (i % 5, store.post_message(new).await) }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (0, Ok(Posted::Refused(Refusal::NotFound))) | (1, Ok(Posted::Refused(Refusal::Locked))) => {}
            (2, Ok(Posted::Refused(Refusal::Resent(m)))) => assert_eq!(m.seq, 1),
            (3 | 4, Ok(Posted::Created(m))) => seqs.push(m.seq),
            (kind, other) => panic!("post of kind {kind}: unexpected {other:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=81).collect::<Vec<i64>>(), "80 posts numbered 2 to 81, once each");
    let stored = store.messages(open_one, 1, 100).await.unwrap();
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=81).collect::<Vec<i64>>());
    assert_eq!(store.conversation(closed).await.unwrap().unwrap().last_seq, 0, "a closed conversation takes no number");
}

/// The post's own statement decides who may post (the service sends posts without
/// mentions to the store unchecked): the author must see the conversation, directly or
/// through a group, must not be a `lite` user of its workspace (another workspace's role
/// does not count), it must be open, and a reply must name one of its messages. Anything
/// else is refused, numbers nothing, and says why only to an author who sees the
/// conversation, in the order the rules apply.
async fn a_post_is_stored_only_if_its_author_may_write_there(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let (member, lite, guest, outsider) = (
        account(&store, "member@example.com").await,
        account(&store, "lite@example.com").await,
        account(&store, "guest@example.com").await,
        account(&store, "outsider@example.com").await,
    );
    let ws = workspace(&store, owner).await;
    store.add_member(ws, member, Role::Member, 0).await.unwrap();
    store.add_member(ws, lite, Role::Lite, 0).await.unwrap();
    store.add_member(ws, outsider, Role::Member, 0).await.unwrap();
    // The guest is a lite user elsewhere: that does not make them read-only here.
    let elsewhere = workspace(&store, outsider).await;
    store.add_member(elsewhere, guest, Role::Lite, 0).await.unwrap();
    let group = store.create_conversation(group(ws, owner, vec![owner, member]), &[]).await.unwrap().id;
    let addressed =
        NewConversation { groups: vec![group], participants: vec![owner, lite, guest], ..thread(ws, owner, "t") };
    let t = store.create_conversation(addressed, &[]).await.unwrap().id;
    let post = |author, reply_to, client_id: Option<&str>| NewMessage {
        id: MessageId(random_id()),
        conversation_id: t,
        author,
        body: "hello".into(),
        reply_to,
        client_id: client_id.map(str::to_owned),
        mentions: vec![],
        created_at: 1,
    };
    let answer = |posted: Result<Posted, StoreError>| match posted {
        Ok(Posted::Created(m)) => format!("created {}", m.seq),
        Ok(Posted::Refused(Refusal::Resent(m))) => format!("resent {}", m.seq),
        Ok(Posted::Refused(why)) => format!("{why:?}"),
        Err(e) => format!("error {e:?}"),
    };
    let one = |author, reply_to, client_id| {
        let store = store.clone();
        let new = post(author, reply_to, client_id);
        async move { answer(store.post_message(new).await) }
    };
    assert_eq!(one(guest, None, Some("g-1")).await, "created 1", "a guest taking part");
    assert_eq!(one(member, Some(1), None).await, "created 2", "a member through the group, replying");
    assert_eq!(one(outsider, None, None).await, "NotFound", "a workspace member not in it");
    assert_eq!(one(lite, None, None).await, "ReadOnly", "a lite user taking part");
    assert_eq!(one(owner, Some(3), None).await, "NoSuchReply", "a reply to a message not there yet");
    assert_eq!(one(owner, Some(0), None).await, "NoSuchReply", "a reply to message 0");
    assert_eq!(one(guest, None, Some("g-1")).await, "resent 1", "a resend");
    // A run: the reply is checked when it is inserted, before the post after it, and the
    // refused post did not resend the client id that the post after it then took. The
    // commit hook saw the message created, and only it, before the run was answered.
    let committed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = committed.clone();
    let on_commit: salon::store::OnCommit = Arc::new(move |m, _| seen.lock().unwrap().push(m.seq));
    let run = store
        .post_messages(vec![post(owner, Some(3), Some("o-1")), post(owner, None, Some("o-1"))], Some(on_commit))
        .await;
    assert_eq!(*committed.lock().unwrap(), [3], "on_commit ran for the created message before the answer");
    assert_eq!(run.into_iter().map(answer).collect::<Vec<_>>(), ["NoSuchReply", "created 3"]);
    store.remove_group_member(group, member, &audit(ws)).await.unwrap();
    assert_eq!(one(member, None, None).await, "NotFound", "a member removed from the group");
    store.remove_participant(t, guest, &audit(ws)).await.unwrap();
    assert_eq!(one(guest, None, Some("g-1")).await, "NotFound", "a removed guest's resend");
    store.update_conversation(t, None, Some(true)).await.unwrap();
    assert_eq!(one(owner, None, None).await, "Locked", "anyone, once it is closed");
    assert_eq!(one(lite, None, None).await, "ReadOnly", "a lite user, closed or not");
    assert_eq!(one(outsider, None, None).await, "NotFound", "an outsider, closed or not");
    assert_eq!(store.conversation(t).await.unwrap().unwrap().last_seq, 3, "refused posts take no number");
    assert_eq!(store.messages(t, 1, 10).await.unwrap().len(), 3);
}

/// A run of one author's posts (`post_messages`, what the gateway does with sends that
/// arrived together) is numbered in the order given; each post is refused alone (an
/// outsider's conversation, a closed one, a client id reused with another body), a resend
/// inside the run is answered with the original, and the answers come back in the run's
/// order. Runs that span conversations and runs
/// racing each other keep the same promises.
async fn a_run_of_posts_keeps_its_order_and_fails_alone(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let stranger = account(&store, "stranger@example.com").await;
    let ws = workspace(&store, owner).await;
    let conversation = |title: &str, creator: AccountId| thread(ws, creator, title);
    let a = store.create_conversation(conversation("a", owner), &[]).await.unwrap().id;
    let b = store.create_conversation(conversation("b", owner), &[]).await.unwrap().id;
    let closed = store.create_conversation(conversation("closed", owner), &[]).await.unwrap().id;
    store.update_conversation(closed, None, Some(true)).await.unwrap();
    let theirs = store.create_conversation(conversation("theirs", stranger), &[]).await.unwrap().id;
    let post = |conversation, body: &str, client_id: Option<&str>| NewMessage {
        id: MessageId(random_id()),
        conversation_id: conversation,
        author: owner,
        body: body.into(),
        reply_to: None,
        client_id: client_id.map(str::to_owned),
        mentions: vec![],
        created_at: 1,
    };

    // One conversation: the run shape a fast sender produces.
    let run = vec![
        post(a, "one", None),
        post(a, "two", Some("k")),
        post(a, "two", Some("k")),
        post(a, "other body", Some("k")),
        post(a, "three", None),
    ];
    let answers = store.post_messages(run, None).await;
    let summary: Vec<String> = answers
        .iter()
        .map(|r| match r {
            Ok(Posted::Created(m)) => format!("created {} {}", m.seq, m.body),
            Ok(Posted::Refused(Refusal::Resent(m))) => format!("resent {}", m.seq),
            Ok(Posted::Refused(why)) => format!("refused {why:?}"),
            Err(e) => format!("error {e:?}"),
        })
        .collect();
    assert_eq!(summary, ["created 1 one", "created 2 two", "resent 2", "refused ClientIdReused", "created 3 three"]);

    // Several conversations, with failures in between: each fails alone, order kept.
    let run = vec![
        post(b, "b1", None),
        post(theirs, "not mine", None),
        post(a, "four", None),
        post(closed, "too late", None),
        post(b, "b2", None),
    ];
    let answers = store.post_messages(run, None).await;
    assert!(matches!(&answers[0], Ok(Posted::Created(m)) if m.seq == 1 && m.body == "b1"));
    assert!(matches!(&answers[1], Ok(Posted::Refused(Refusal::NotFound))), "{:?}", answers[1]);
    assert!(matches!(&answers[2], Ok(Posted::Created(m)) if m.seq == 4));
    assert!(matches!(&answers[3], Ok(Posted::Refused(Refusal::Locked))), "{:?}", answers[3]);
    assert!(matches!(&answers[4], Ok(Posted::Created(m)) if m.seq == 2 && m.body == "b2"));
    assert_eq!(store.conversation(theirs).await.unwrap().unwrap().last_seq, 0);

    // Runs racing each other: every run's own order holds, numbers stay gapless.
    let mut tasks = Vec::new();
    for r in 0..8 {
        let store = store.clone();
        let run: Vec<NewMessage> = (0..10).map(|i| post(a, &format!("r{r} {i}"), None)).collect();
        tasks.push(tokio::spawn(async move { store.post_messages(run, None).await }));
    }
    for task in tasks {
        let seqs: Vec<i64> = task
            .await
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Ok(Posted::Created(m)) => m.seq,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a run is numbered in its order: {seqs:?}");
    }
    let stored = store.messages(a, 1, 200).await.unwrap();
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=84).collect::<Vec<i64>>());
}

/// Six tasks posting `rounds` runs each, every run visiting every conversation, starting
/// somewhere else and in either direction; `author(task)` posts them. Their answers.
fn post_runs(
    store: &Arc<dyn Store>,
    conversations: &[ConversationId],
    rounds: usize,
    author: impl Fn(usize) -> AccountId,
) -> Vec<tokio::task::JoinHandle<Vec<store::Result<Posted>>>> {
    (0..6usize)
        .map(|p| {
            let (store, conversations, author) = (store.clone(), conversations.to_vec(), author(p));
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for round in 0..rounds {
                    let mut order = conversations.clone();
                    let start = (p * 5 + round) % order.len();
                    order.rotate_left(start);
                    if round % 2 == 1 {
                        order.reverse();
                    }
                    let run = order
                        .into_iter()
                        .map(|c| NewMessage {
                            id: MessageId(random_id()),
                            conversation_id: c,
                            author,
                            body: format!("p{p} r{round}"),
                            reply_to: None,
                            client_id: None,
                            mentions: vec![],
                            created_at: 1,
                        })
                        .collect();
                    answers.extend(store.post_messages(run, None).await);
                }
                answers
            })
        })
        .collect()
}

/// Runs of posts over several conversations, in every order, race removals that lock all
/// of them (a group member removed from the group every thread is addressed to). Both
/// take the rows in one order, so neither ever waits for the other in a cycle: no removal
/// fails, and every post is stored or refused for what it is.
async fn runs_across_conversations_race_removals_without_errors(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let member = account(&store, "member@example.com").await;
    let ws = workspace(&store, owner).await;
    store.add_member(ws, member, Role::Member, 0).await.unwrap();
    let group = store.create_conversation(group(ws, owner, vec![owner, member]), &[]).await.unwrap().id;
    let mut threads = Vec::new();
    for _ in 0..6 {
        let addressed = NewConversation { groups: vec![group], ..thread(ws, owner, "t") };
        threads.push(store.create_conversation(addressed, &[]).await.unwrap().id);
    }
    let posters = post_runs(&store, &threads, 15, |p| if p % 2 == 0 { owner } else { member });
    for _ in 0..15 {
        assert!(store.remove_group_member(group, member, &audit(ws)).await.expect("a removal never fails"));
        assert!(store.add_group_member(group, member, 0, &audit(ws)).await.expect("an addition never fails"));
    }
    for poster in posters {
        for answer in poster.await.unwrap() {
            // `Changed`: refused while removed, and added back before the reason was read
            // (an addition does not wait for the rows on PostgreSQL).
            assert!(
                matches!(answer, Ok(Posted::Created(_) | Posted::Refused(Refusal::NotFound | Refusal::Changed))),
                "{answer:?}"
            );
        }
    }
}

/// The same with handovers: all of a leaver's groups move to a successor in one
/// transaction, each group locking the threads addressed to it. Those come group by
/// group, not in id order, unless the handover takes them all first.
async fn runs_across_conversations_race_handovers_without_errors(backend: Backend) {
    let store = open(backend).await;
    let owner = account(&store, "owner@example.com").await;
    let (a, b) = (account(&store, "a@example.com").await, account(&store, "b@example.com").await);
    let ws = workspace(&store, owner).await;
    for m in [a, b] {
        store.add_member(ws, m, Role::Member, 0).await.unwrap();
    }
    let (mut groups, mut threads) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let group = store.create_conversation(group(ws, owner, vec![owner, a]), &[]).await.unwrap().id;
        for _ in 0..3 {
            let addressed = NewConversation { groups: vec![group], ..thread(ws, owner, "t") };
            threads.push(store.create_conversation(addressed, &[]).await.unwrap().id);
        }
        groups.push(group);
    }
    let posters = post_runs(&store, &threads, 30, |_| owner);
    for _ in 0..20 {
        for (from, to) in [(a, b), (b, a)] {
            let moved = store.replace_grants(ws, from, Successor::Account(to), &groups, owner, &audit(ws)).await;
            assert_eq!(moved.expect("a handover never fails"), (4, 0));
        }
    }
    for poster in posters {
        for answer in poster.await.unwrap() {
            assert!(matches!(answer, Ok(Posted::Created(_))), "{answer:?}");
        }
    }
}

/// PostgreSQL: a change that waited for a removal's row lock sees the removal — a post, an
/// edit, a deletion and a reaction by the removed guest. (A statement that waited for a
/// row reads the other tables as they were when it began: the access check must come
/// after the wait, in a statement of its own.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_waited_for_a_removal_sees_it() {
    use sqlx::Connection;
    let url = common::fresh_database(Backend::Postgres).await;
    let config = DatabaseConfig { url: Secret(url.clone()), max_connections: 8, sqlite_synchronous: "normal".into() };
    let store = store::connect(&config, Backend::Postgres, true).await.expect("the store opens");
    let owner = account(&store, "owner@example.com").await;
    let guest = account(&store, "guest@example.com").await;
    let ws = workspace(&store, owner).await;
    let mut watch = sqlx::PgConnection::connect(&url).await.unwrap();
    for change in ["post", "edit", "delete", "react"] {
        let addressed = NewConversation { participants: vec![owner, guest], ..thread(ws, owner, change) };
        let conversation = store.create_conversation(addressed, &[]).await.unwrap().id;
        let by_guest = move |body: &str| NewMessage {
            id: MessageId(random_id()),
            conversation_id: conversation,
            author: guest,
            body: body.into(),
            reply_to: None,
            client_id: None,
            mentions: vec![],
            created_at: 1,
        };
        let first = by_guest("before");
        let first_id = first.id;
        assert!(matches!(store.post_message(first).await, Ok(Posted::Created(_))));
        // A removal under way: the conversation's row taken, the guest's place gone, not
        // committed yet.
        let mut removal = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut removal).await.unwrap();
        sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR NO KEY UPDATE")
            .bind(conversation.0)
            .execute(&mut removal)
            .await
            .unwrap();
        sqlx::query("DELETE FROM conversation_participants WHERE conversation_id = $1 AND account_id = $2")
            .bind(conversation.0)
            .bind(guest.0)
            .execute(&mut removal)
            .await
            .unwrap();
        let attempt = {
            let store = store.clone();
            tokio::spawn(async move {
                match change {
                    "post" => match store.post_message(by_guest("after")).await {
                        Ok(Posted::Refused(Refusal::NotFound)) => Err(StoreError::NotFound),
                        other => other.map(|_| ()),
                    },
                    "edit" => store.edit_message(conversation, 1, guest, "after", 2).await,
                    "delete" => store.delete_message(conversation, 1, guest, 2).await,
                    _ => store.add_reaction(conversation, first_id, guest, "👍", 2).await.map(|_| ()),
                }
            })
        };
        // Once the change waits for the row, the removal commits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watch)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the {change} never waited for the removal's lock");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        sqlx::query("COMMIT").execute(&mut removal).await.unwrap();
        let answer = attempt.await.unwrap();
        assert!(matches!(answer, Err(StoreError::NotFound)), "the removed guest's {change} went through: {answer:?}");
        let message = store.message(conversation, 1).await.unwrap().unwrap();
        assert_eq!((message.body.as_str(), message.deleted_at), ("before", None), "{change}");
        assert_eq!(store.conversation(conversation).await.unwrap().unwrap().last_seq, 1, "{change}");
        assert!(store.extras(conversation, 1, 1).await.unwrap().reactions.is_empty(), "{change}");
    }
}

/// SQLite's WAL is started over under a steady load of posts and reads. On its own, SQLite
/// never finds the moment to restart it (every checkpoint sees new commits and readers on
/// the WAL), so it grows for as long as the load lasts, and the commit that finally
/// restarts it stalls truncating hundreds of megabytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_wal_stays_short_under_steady_load() {
    let url = common::fresh_database(Backend::Sqlite).await;
    let wal = std::path::PathBuf::from(format!("{}-wal", url.trim_start_matches("sqlite://")));
    let config = DatabaseConfig { url: Secret(url), max_connections: 8, sqlite_synchronous: "normal".into() };
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    let owner = account(&store, "owner@example.com").await;
    let ws = workspace(&store, owner).await;
    let conversation = store.create_conversation(thread(ws, owner, "load"), &[]).await.unwrap().id;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = |stop: &Arc<std::sync::atomic::AtomicBool>| !stop.load(std::sync::atomic::Ordering::Relaxed);
    // Readers that never pause, and a watch on the WAL's size.
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (store, stop) = (store.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while running(&stop) {
                store.messages(conversation, 1, 20).await.unwrap();
            }
        }));
    }
    let largest = {
        let (stop, wal) = (stop.clone(), wal.clone());
        tokio::spawn(async move {
            let mut largest = 0;
            while running(&stop) {
                largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            largest
        })
    };
    // About 200 MiB of WAL frames: every post is a page of its own (and its index entries).
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..600 {
                let body = (0..400).map(|k| format!("w{w}m{i}t{k}")).collect::<Vec<_>>().join(" ");
                let new = plain_post(conversation, owner, body);
                assert!(matches!(store.post_message(new).await, Ok(Posted::Created(_))));
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let largest = largest.await.unwrap();
    assert!(largest > 0, "the database is in WAL mode");
    assert!(largest < 64 << 20, "the WAL reached {} MiB", largest >> 20);
}

/// SQLite's search index is a file of its own, derived from the messages and kept outside
/// the posts' commits: a search still finds what was stored just before it (edits as
/// edited, deletions gone), and an index that is missing, or older than the queue it is
/// fed from, is built again from the messages when the store opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_search_index_follows_the_messages_and_is_rebuilt() {
    use sqlx::Connection;
    let url = common::fresh_database(Backend::Sqlite).await;
    let file = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    let index = file.with_file_name("salon-search.db");
    let config = DatabaseConfig { url: Secret(url), max_connections: 4, sqlite_synchronous: "normal".into() };
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    let owner = account(&store, "owner@example.com").await;
    let ws = workspace(&store, owner).await;
    let conversation = store.create_conversation(thread(ws, owner, "search"), &[]).await.unwrap().id;
    let post = |body: String| plain_post(conversation, owner, body);
    let bodies = |found: Vec<store::MessageRow>| found.into_iter().map(|m| m.body).collect::<Vec<_>>();
    let find = |store: Arc<dyn Store>, word: &'static str| async move {
        bodies(store.search(owner, &[word.to_owned()], None, 10).await.unwrap())
    };
    assert!(matches!(store.post_message(post("zebra crossing".into())).await, Ok(Posted::Created(_))));
    assert!(matches!(store.post_message(post("giraffe".into())).await, Ok(Posted::Created(_))));
    assert_eq!(find(store.clone(), "zebra").await, ["zebra crossing"], "found at once after the post");
    store.edit_message(conversation, 1, owner, "okapi crossing", 2).await.unwrap();
    assert_eq!(find(store.clone(), "zebra").await, Vec::<String>::new(), "the old words are gone after an edit");
    assert_eq!(find(store.clone(), "okapi").await, ["okapi crossing"]);
    store.delete_message(conversation, 2, owner, 3).await.unwrap();
    // Posted and edited before the indexer saw either.
    assert!(matches!(store.post_message(post("quagga".into())).await, Ok(Posted::Created(_))));
    store.edit_message(conversation, 3, owner, "quokka", 4).await.unwrap();
    assert_eq!(find(store.clone(), "quokka").await, ["quokka"]);
    assert_eq!(find(store.clone(), "quagga").await, Vec::<String>::new());
    assert_eq!(find(store.clone(), "giraffe").await, Vec::<String>::new(), "a deleted message is gone");
    store.close().await;
    drop(store);

    // No search file: built again from the messages.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    assert_eq!(find(store.clone(), "okapi").await, ["okapi crossing"], "rebuilt");
    assert_eq!(find(store.clone(), "giraffe").await, Vec::<String>::new(), "deleted messages stay out");

    // Enough posts for the indexer to prune the queue behind it...
    for run in 0..70 {
        let batch = (0..64).map(|i| post(format!("filler r{run}i{i}"))).collect();
        assert!(store.post_messages(batch, None).await.iter().all(|p| matches!(p, Ok(Posted::Created(_)))));
    }
    assert_eq!(find(store.clone(), "r69i63").await, ["filler r69i63"]);
    let early = store.search(owner, &["r40i7".to_owned()], None, 10).await.unwrap()[0].id;
    let queue_start = "SELECT COALESCE(MIN(seq), 0) FROM search_queue";
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut db = sqlx::SqliteConnection::connect(config.url.expose()).await.unwrap();
        let first: i64 = sqlx::query_scalar(queue_start).fetch_one(&mut db).await.unwrap();
        if first > 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the queue was never pruned");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
    drop(store);
    // ...then an index that stopped before entries the queue no longer holds (a search
    // file restored from an older backup: without a message indexed since) is built
    // again, not left with a hole.
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", index.display())).await.unwrap();
    sqlx::query("DELETE FROM messages_fts WHERE rowid = $1").bind(early.0).execute(&mut db).await.unwrap();
    sqlx::query("UPDATE indexed SET seq = 1").execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    assert_eq!(find(store.clone(), "r40i7").await, ["filler r40i7"], "rebuilt past the hole");
    assert_eq!(find(store.clone(), "okapi").await, ["okapi crossing"], "once, not twice");
    store.close().await;
    drop(store);

    // A search file ahead of its database (the database restored alone from a backup):
    // new posts would take numbers the index says it passed. Built again.
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", index.display())).await.unwrap();
    sqlx::query("UPDATE indexed SET seq = seq + 1000").execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    assert!(matches!(store.post_message(post("wombat".into())).await, Ok(Posted::Created(_))));
    assert_eq!(find(store.clone(), "wombat").await, ["wombat"], "indexed after a file ahead of its database");
}

/// The search file is derived: damaged, it is built again rather than left failing. Found
/// not to be a database when the server starts, it is replaced; an index that fails every
/// round while the server runs (its table gone here) is dropped and built anew.
#[tokio::test]
async fn a_damaged_sqlite_search_file_is_built_again() {
    use sqlx::Connection;
    let url = common::fresh_database(Backend::Sqlite).await;
    let file = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    let index = file.with_file_name("salon-search.db");
    let config = DatabaseConfig { url: Secret(url), max_connections: 4, sqlite_synchronous: "normal".into() };
    let store = store::connect(&config, Backend::Sqlite, true).await.expect("the store opens");
    let owner = account(&store, "owner@example.com").await;
    let ws = workspace(&store, owner).await;
    let conversation = store.create_conversation(thread(ws, owner, "search"), &[]).await.unwrap().id;
    let post = |body: &str| plain_post(conversation, owner, body.to_owned());
    assert!(matches!(store.post_message(post("zebra")).await, Ok(Posted::Created(_))));
    store.close().await;
    drop(store);

    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }
    std::fs::write(&index, vec![b'x'; 8192]).unwrap();
    let store =
        store::connect(&config, Backend::Sqlite, true).await.expect("the store opens beside a damaged search file");
    let found = store.search(owner, &["zebra".to_owned()], None, 10).await.unwrap();
    assert_eq!(found.into_iter().map(|m| m.body).collect::<Vec<_>>(), ["zebra"], "rebuilt at start");

    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", index.display())).await.unwrap();
    sqlx::query("DROP TABLE messages_fts").execute(&mut db).await.unwrap();
    db.close().await.unwrap();
    assert!(matches!(store.post_message(post("okapi")).await, Ok(Posted::Created(_))));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // Searches fail while the table is gone; the indexer's rounds too, until it rebuilds.
        if let Ok(found) = store.search(owner, &["okapi".to_owned()], None, 10).await
            && found.iter().any(|m| m.body == "okapi")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the index was never built again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let found = store.search(owner, &["zebra".to_owned()], None, 10).await.unwrap();
    assert_eq!(found.len(), 1, "the rebuilt index holds the earlier messages too");
}
