//! A property test of the access rule: random sequences of additions and removals on
//! groups, threads and their recipients, applied to the real store, checked after every
//! step against a small reference model of the rule, on both backends: the gate, the
//! conversation list and posting (which the store's insert decides) all follow it.
//!
//! The rule (DESIGN.md, invariant 1): an account sees a conversation iff it is a direct
//! participant or a member of a group the conversation is addressed to (a group's chat is
//! addressed to the group). Paths compose: losing one keeps the others.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use salon::config::{Backend, DatabaseConfig, Secret};
use salon::crypto::{Token, random_id};
use salon::domain::{
    AccountId, AuditAction, ConversationId, ConversationKind, DisplayName, Email, MessageId, WorkspaceId, WorkspaceName,
};
use salon::services::Membership;
use salon::store::{self, NewAudit, NewConversation, NewMessage, NewSignup, Posted, Refusal, Store};

const ACCOUNTS: usize = 5;
const GROUPS: usize = 3;
const THREADS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    JoinGroup(usize, usize),
    LeaveGroup(usize, usize),
    AddGroupToThread(usize, usize),
    RemoveGroupFromThread(usize, usize),
    AddToThread(usize, usize),
    RemoveFromThread(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let (g, a, t) = (0..GROUPS, 0..ACCOUNTS, 0..THREADS);
    prop_oneof![
        (g.clone(), a.clone()).prop_map(|(g, a)| Op::JoinGroup(g, a)),
        (g.clone(), a.clone()).prop_map(|(g, a)| Op::LeaveGroup(g, a)),
        (t.clone(), g.clone()).prop_map(|(t, g)| Op::AddGroupToThread(t, g)),
        (t.clone(), g).prop_map(|(t, g)| Op::RemoveGroupFromThread(t, g)),
        (t.clone(), a.clone()).prop_map(|(t, a)| Op::AddToThread(t, a)),
        (t, a).prop_map(|(t, a)| Op::RemoveFromThread(t, a)),
    ]
}

/// The reference model: sets, and the rule written as plainly as possible.
#[derive(Default)]
struct Model {
    group_members: [HashSet<usize>; GROUPS],
    thread_groups: [HashSet<usize>; THREADS],
    thread_accounts: [HashSet<usize>; THREADS],
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::JoinGroup(g, a) => {
                self.group_members[g].insert(a);
            }
            Op::LeaveGroup(g, a) => {
                self.group_members[g].remove(&a);
            }
            Op::AddGroupToThread(t, g) => {
                self.thread_groups[t].insert(g);
            }
            Op::RemoveGroupFromThread(t, g) => {
                self.thread_groups[t].remove(&g);
            }
            Op::AddToThread(t, a) => {
                self.thread_accounts[t].insert(a);
            }
            Op::RemoveFromThread(t, a) => {
                self.thread_accounts[t].remove(&a);
            }
        }
    }

    fn sees_group(&self, a: usize, g: usize) -> bool {
        self.group_members[g].contains(&a)
    }

    fn sees_thread(&self, a: usize, t: usize) -> bool {
        self.thread_accounts[t].contains(&a) || self.thread_groups[t].iter().any(|&g| self.sees_group(a, g))
    }
}

struct Fixture {
    ws: WorkspaceId,
    owner: AccountId,
    accounts: Vec<AccountId>,
    groups: Vec<ConversationId>,
    threads: Vec<ConversationId>,
}

impl Fixture {
    fn audit(&self, action: AuditAction) -> NewAudit {
        NewAudit::new(self.ws, self.owner, action)
    }
}

async fn account(store: &Arc<dyn Store>) -> AccountId {
    let token = Token::generate();
    let email = Email::parse("email", &format!("p{}@example.com", random_id())).unwrap();
    store
        .create_signup(NewSignup {
            token_hash: token.hash(),
            email,
            display_name: DisplayName::parse("n", "P").unwrap(),
            password_hash: "x".into(),
            created_at: 0,
            expires_at: 10,
        })
        .await
        .unwrap();
    store.complete_signup(&token.hash(), 1, AccountId(random_id())).await.unwrap().unwrap().id
}

/// A fresh workspace with accounts, empty groups and threads addressed to nobody.
async fn fixture(store: &Arc<dyn Store>) -> Fixture {
    let owner = account(store).await;
    let ws = WorkspaceId(random_id());
    store.create_workspace(ws, &WorkspaceName::parse("n", "W").unwrap(), owner, 10, 5, 0).await.unwrap();
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(account(store).await);
    }
    let make = |kind: ConversationKind| {
        let id = ConversationId(random_id());
        let conversation = NewConversation {
            id,
            workspace_id: ws,
            kind,
            title: "c".into(),
            created_by: owner,
            created_at: 0,
            direct_key: None,
            groups: if kind == ConversationKind::Group { vec![id] } else { vec![] },
            participants: vec![],
            members: vec![],
        };
        (id, conversation)
    };
    let mut groups = Vec::new();
    let mut threads = Vec::new();
    for i in 0..GROUPS + THREADS {
        let (id, new) = make(if i < GROUPS { ConversationKind::Group } else { ConversationKind::Thread });
        store.create_conversation(new, &[]).await.unwrap();
        if i < GROUPS { groups.push(id) } else { threads.push(id) }
    }
    Fixture { ws, owner, accounts, groups, threads }
}

async fn apply(store: &Arc<dyn Store>, f: &Fixture, op: &Op) {
    match *op {
        Op::JoinGroup(g, a) => {
            store
                .add_group_member(f.groups[g], f.accounts[a], 0, &f.audit(AuditAction::GroupMemberAdded))
                .await
                .unwrap();
        }
        Op::LeaveGroup(g, a) => {
            store
                .remove_group_member(f.groups[g], f.accounts[a], &f.audit(AuditAction::GroupMemberRemoved))
                .await
                .unwrap();
        }
        Op::AddGroupToThread(t, g) => {
            store
                .add_conversation_group(f.threads[t], f.groups[g], &f.audit(AuditAction::GroupAddressed))
                .await
                .unwrap();
        }
        Op::RemoveGroupFromThread(t, g) => {
            store
                .remove_conversation_group(f.threads[t], f.groups[g], &f.audit(AuditAction::GroupUnaddressed))
                .await
                .unwrap();
        }
        Op::AddToThread(t, a) => {
            store
                .add_participant(f.threads[t], f.accounts[a], 0, &f.audit(AuditAction::ParticipantAdded))
                .await
                .unwrap();
        }
        Op::RemoveFromThread(t, a) => {
            store
                .remove_participant(f.threads[t], f.accounts[a], &f.audit(AuditAction::ParticipantRemoved))
                .await
                .unwrap();
        }
    }
}

fn new_message(conversation: ConversationId, author: AccountId) -> NewMessage {
    NewMessage {
        id: MessageId(random_id()),
        conversation_id: conversation,
        author,
        body: "m".into(),
        reply_to: None,
        client_id: None,
        mentions: vec![],
        created_at: 1,
    }
}

async fn check_sequence(store: Arc<dyn Store>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let gate = Membership::new(store.clone());
    let f = fixture(&store).await;
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        apply(&store, &f, op).await;
        model.apply(op);
        for (a, &account) in f.accounts.iter().enumerate() {
            let mut expected = BTreeSet::new();
            for (g, &group) in f.groups.iter().enumerate() {
                let want = model.sees_group(a, g);
                let got = gate.can_see(account, group).await.unwrap();
                prop_assert_eq!(got, want, "step {} {:?}: account {} group {}", step, op, a, g);
                if want {
                    expected.insert(group);
                }
            }
            for (t, &thread) in f.threads.iter().enumerate() {
                let want = model.sees_thread(a, t);
                let got = gate.can_see(account, thread).await.unwrap();
                prop_assert_eq!(got, want, "step {} {:?}: account {} thread {}", step, op, a, t);
                if want {
                    expected.insert(thread);
                }
            }
            // So does posting, which the store decides in its insert: each account posts
            // to the conversation the step changed.
            let (touched, want) = match *op {
                Op::JoinGroup(g, _) | Op::LeaveGroup(g, _) => (f.groups[g], model.sees_group(a, g)),
                Op::AddGroupToThread(t, _)
                | Op::RemoveGroupFromThread(t, _)
                | Op::AddToThread(t, _)
                | Op::RemoveFromThread(t, _) => (f.threads[t], model.sees_thread(a, t)),
            };
            let posted = store.post_message(new_message(touched, account)).await.unwrap();
            let got = match posted {
                Posted::Created(_) => true,
                Posted::Refused(Refusal::NotFound) => false,
                other => return Err(TestCaseError::fail(format!("step {step} {op:?}: account {a}: {other:?}"))),
            };
            prop_assert_eq!(got, want, "step {} {:?}: account {} posting", step, op, a);
            // The conversation list follows the same rule.
            let listed: BTreeSet<ConversationId> =
                store.visible_conversations(account).await.unwrap().into_iter().map(|s| s.conversation.id).collect();
            prop_assert_eq!(listed, expected, "step {} {:?}: account {} list", step, op, a);
        }
    }
    Ok(())
}

/// Cases per backend; each is a sequence of up to 40 operations checked after every step.
const CASES: u32 = 32;

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = rt.block_on(async {
        let config = DatabaseConfig {
            url: Secret(common::fresh_database(backend).await),
            max_connections: 4,
            sqlite_synchronous: "normal".into(),
        };
        store::connect(&config, backend, true).await.unwrap()
    });
    let mut runner = TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
    let result =
        runner.run(&proptest::collection::vec(op(), 1..40), |ops| rt.block_on(check_sequence(store.clone(), ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn sqlite_access_rule_matches_the_model() {
    run(Backend::Sqlite);
}

#[test]
fn postgres_access_rule_matches_the_model() {
    run(Backend::Postgres);
}
