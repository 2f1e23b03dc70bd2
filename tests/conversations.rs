//! Conversations through the HTTP API on both backends: the permission matrix (every
//! conversation endpoint × every kind of caller), removal, gapless sequences under
//! concurrent posters, idempotent resends, history pages, reading state, search, the
//! Lite role, externals, moderation, locking and direct conversations.

mod common;

use common::{Answer, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use salon::config::Backend;
use salon::domain::{AccountId, Role, WorkspaceId};
use serde_json::{Value, json};

on_both_backends!(
    permission_matrix,
    removal_takes_the_whole_conversation_and_keeps_other_paths,
    concurrent_posters_get_a_gapless_sequence,
    resends_are_idempotent,
    history_pages_by_sequence,
    reading_state_and_the_conversation_list,
    search_finds_only_what_the_caller_can_read,
    lite_users_read_and_never_write,
    externals_are_marked_everywhere,
    edit_delete_and_moderation,
    replies_and_mentions_are_checked,
    closed_threads_and_archived_groups_are_read_only,
    direct_conversations,
    leaving_the_workspace_leaves_its_conversations,
    guests_see_people_not_group_names,
    managers_cannot_add_themselves_to_groups,
);

/// Who calls, in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Admin,
    Manager,
    Member,
    Lite,
    ExternalIn,
    ExternalOut,
    ExternalRemoved,
    Stranger,
    Anonymous,
}

const EVERYONE: [Who; 10] = [
    Who::Owner,
    Who::Admin,
    Who::Manager,
    Who::Member,
    Who::Lite,
    Who::ExternalIn,
    Who::ExternalOut,
    Who::ExternalRemoved,
    Who::Stranger,
    Who::Anonymous,
];

/// A workspace with one caller of each kind and a thread T:
/// - group G (created by the manager) holds the manager and external X1;
/// - thread T (started by the manager) is addressed to G and directly to the owner, the
///   member, the lite user and X3 — and X3 is then removed from it (by the member);
/// - X2 is in another thread of the workspace only; the admin is in no thread; the
///   stranger is in nothing.
struct World {
    app: TestApp,
    ws: String,
    group: String,
    thread: String,
    tokens: Vec<(Who, String)>,
    ids: Vec<(Who, String)>,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens.iter().find(|(w, _)| *w == who).map(|(_, t)| t.as_str())
    }

    fn id(&self, who: Who) -> &str {
        &self.ids.iter().find(|(w, _)| *w == who).unwrap().1
    }

    fn as_(&self, who: Who) -> &str {
        self.token(who).unwrap()
    }

    async fn post(&self, who: Who, conversation: &str, body: &str) -> Answer {
        self.app
            .post(&format!("/api/v1/conversations/{conversation}/messages"), self.token(who), json!({"body": body}))
            .await
    }
}

async fn add_to_workspace(app: &TestApp, ws: &str, account: &str, role: Role) {
    let ws = WorkspaceId(ws.parse().unwrap());
    app.services.workspaces.add_member(ws, AccountId(account.parse().unwrap()), role).await.unwrap();
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (who, email) in [
        (Who::Owner, "owner@acme.test"),
        (Who::Admin, "admin@acme.test"),
        (Who::Manager, "manager@acme.test"),
        (Who::Member, "member@acme.test"),
        (Who::Lite, "lite@client.test"),
        (Who::ExternalIn, "x1@partner.test"),
        (Who::ExternalOut, "x2@partner.test"),
        (Who::ExternalRemoved, "x3@partner.test"),
        (Who::Stranger, "stranger@else.test"),
    ] {
        let (token, id) = app.new_account(email, &format!("{who:?}")).await;
        tokens.push((who, token));
        ids.push((who, id));
    }
    let mut w = World { app, ws: String::new(), group: String::new(), thread: String::new(), tokens, ids };
    let created = w.app.post("/api/v1/workspaces", w.token(Who::Owner), json!({"name": "Acme"})).await;
    w.ws = created.body["id"].as_str().unwrap().to_owned();
    for (who, role) in
        [(Who::Admin, Role::Admin), (Who::Manager, Role::Manager), (Who::Member, Role::Member), (Who::Lite, Role::Lite)]
    {
        add_to_workspace(&w.app, &w.ws, w.id(who), role).await;
    }
    let group = w
        .app
        .post(
            &format!("/api/v1/workspaces/{}/groups", w.ws),
            w.token(Who::Manager),
            json!({"name": "Client group", "members": [w.id(Who::ExternalIn)]}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{group:?}");
    w.group = group.body["id"].as_str().unwrap().to_owned();
    let thread = w
        .app
        .post(
            &format!("/api/v1/workspaces/{}/threads", w.ws),
            w.token(Who::Manager),
            json!({
                "subject": "Launch plan",
                "groups": [w.group],
                "accounts": [w.id(Who::Owner), w.id(Who::Member), w.id(Who::Lite), w.id(Who::ExternalRemoved)],
            }),
        )
        .await;
    assert_eq!(thread.status, StatusCode::CREATED, "{thread:?}");
    w.thread = thread.body["id"].as_str().unwrap().to_owned();
    let other = w
        .app
        .post(
            &format!("/api/v1/workspaces/{}/threads", w.ws),
            w.token(Who::Owner),
            json!({"subject": "Other matter", "accounts": [w.id(Who::ExternalOut)]}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(w.post(Who::Member, &w.thread, "kickoff zebra notes").await.status, StatusCode::CREATED);
    assert_eq!(w.post(Who::ExternalRemoved, &w.thread, "x3 was here").await.status, StatusCode::CREATED);
    let removed = w
        .app
        .delete(
            &format!("/api/v1/conversations/{}/recipients/accounts/{}", w.thread, w.id(Who::ExternalRemoved)),
            w.as_(Who::Member),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["action"], "participant_removed", "the answer is the removal's receipt");
    assert_eq!(removed.body["account"]["id"], w.id(Who::ExternalRemoved));
    w
}

/// What a cell of the matrix expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok(u16),
    Refused(&'static str),
}

use Expect::{Ok as Allowed, Refused};

/// Sees T: a direct participant or a member of G.
fn sees_thread(who: Who) -> bool {
    matches!(who, Who::Owner | Who::Manager | Who::Member | Who::Lite | Who::ExternalIn)
}

fn read(who: Who, ok: u16) -> Expect {
    match who {
        Who::Anonymous => Refused("unauthenticated"),
        w if sees_thread(w) => Allowed(ok),
        _ => Refused("not_found"),
    }
}

fn write(who: Who, ok: u16) -> Expect {
    match who {
        Who::Lite => Refused("read_only"),
        w => read(w, ok),
    }
}

/// Threads' recipients, subject and state: workspace members who may write.
fn manage_thread(who: Who, ok: u16) -> Expect {
    match who {
        Who::ExternalIn => Refused("forbidden"),
        w => write(w, ok),
    }
}

/// Workspace-level writes: members of the workspace who may write.
fn workspace_write(who: Who, ok: u16) -> Expect {
    match who {
        Who::Owner | Who::Admin | Who::Manager | Who::Member => Allowed(ok),
        Who::Lite => Refused("read_only"),
        Who::Anonymous => Refused("unauthenticated"),
        _ => Refused("not_found"),
    }
}

/// Inviting people into the workspace: its owners, admins and managers.
fn invite_rights(who: Who, ok: u16) -> Expect {
    match who {
        Who::Owner | Who::Admin | Who::Manager => Allowed(ok),
        Who::Member => Refused("forbidden"),
        w => workspace_write(w, ok),
    }
}

fn check(who: Who, endpoint: &str, expect: Expect, got: &Answer) {
    match expect {
        Allowed(status) => assert_eq!(got.status.as_u16(), status, "{who:?} {endpoint}: {got:?}"),
        Refused(code) => assert_eq!(got.code(), code, "{who:?} {endpoint}: {got:?}"),
    }
}

async fn permission_matrix(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = &w.thread;
    let mut cells = 0;
    for who in EVERYONE {
        let token = w.token(who);
        let call = |method: Method, path: String, body: Option<Value>| async move {
            app.call(method, &path, token, body).await
        };

        // Reads of T, its messages and who is in it.
        for (endpoint, path) in [
            ("GET conversation", format!("/api/v1/conversations/{t}")),
            ("GET history", format!("/api/v1/conversations/{t}/messages")),
            ("GET message", format!("/api/v1/conversations/{t}/messages/1")),
            ("GET audience", format!("/api/v1/conversations/{t}/audience")),
        ] {
            check(who, endpoint, read(who, 200), &call(Method::GET, path, None).await);
            cells += 1;
        }
        let marked = call(Method::POST, format!("/api/v1/conversations/{t}/read"), Some(json!({"seq": 1}))).await;
        check(who, "POST read marker", read(who, 200), &marked);

        // Writes into T.
        let posted =
            call(Method::POST, format!("/api/v1/conversations/{t}/messages"), Some(json!({"body": "hello"}))).await;
        check(who, "POST message", write(who, 201), &posted);
        let reacted =
            call(Method::PUT, format!("/api/v1/conversations/{t}/messages/1/reactions/%F0%9F%91%8D"), None).await;
        check(who, "PUT reaction", write(who, 204), &reacted);
        let unreacted =
            call(Method::DELETE, format!("/api/v1/conversations/{t}/messages/1/reactions/%F0%9F%91%8D"), None).await;
        check(who, "DELETE reaction", write(who, 204), &unreacted);

        // Editing and deleting the member's messages: the author edits; the author and the
        // workspace's moderators who see T delete.
        let edited = call(
            Method::PATCH,
            format!("/api/v1/conversations/{t}/messages/1"),
            Some(json!({"body": "kickoff zebra notes"})),
        )
        .await;
        let edit_expect = match who {
            Who::Member => Allowed(200),
            Who::Owner | Who::Manager | Who::ExternalIn => Refused("forbidden"),
            w => write(w, 200),
        };
        check(who, "PATCH message", edit_expect, &edited);
        let victim = w.post(Who::Member, t, "to be deleted").await.body["seq"].as_i64().unwrap();
        let deleted = call(Method::DELETE, format!("/api/v1/conversations/{t}/messages/{victim}"), None).await;
        let delete_expect = match who {
            Who::Member | Who::Owner | Who::Manager => Allowed(204),
            Who::ExternalIn => Refused("forbidden"),
            w => write(w, 204),
        };
        check(who, "DELETE message", delete_expect, &deleted);

        // Changing T: subject, recipients.
        let patched =
            call(Method::PATCH, format!("/api/v1/conversations/{t}"), Some(json!({"subject": "Launch plan"}))).await;
        check(who, "PATCH thread", manage_thread(who, 200), &patched);
        let (_, extra) = app.new_account(&format!("extra-{:?}@x.test", who).to_lowercase(), "Extra").await;
        let added =
            call(Method::POST, format!("/api/v1/conversations/{t}/recipients"), Some(json!({"account_id": extra})))
                .await;
        check(who, "POST recipient", manage_thread(who, 204), &added);
        app.post(&format!("/api/v1/conversations/{t}/recipients"), w.token(Who::Member), json!({"account_id": extra}))
            .await;
        let removed =
            call(Method::DELETE, format!("/api/v1/conversations/{t}/recipients/accounts/{extra}"), None).await;
        check(who, "DELETE recipient", manage_thread(who, 200), &removed);
        let guest = format!("guest-{who:?}@x.test").to_lowercase();
        let by_email =
            call(Method::POST, format!("/api/v1/conversations/{t}/recipients"), Some(json!({"email": guest}))).await;
        check(who, "POST recipient by email", manage_thread(who, 202), &by_email);

        // The workspace: starting conversations, groups.
        let ws = &w.ws;
        let thread =
            call(Method::POST, format!("/api/v1/workspaces/{ws}/threads"), Some(json!({"subject": "New"}))).await;
        check(who, "POST thread", workspace_write(who, 201), &thread);
        let group =
            call(Method::POST, format!("/api/v1/workspaces/{ws}/groups"), Some(json!({"name": "New group"}))).await;
        check(who, "POST group", workspace_write(who, 201), &group);
        let groups = call(Method::GET, format!("/api/v1/workspaces/{ws}/groups"), None).await;
        let list_expect = match who {
            Who::Lite => Allowed(200),
            w => workspace_write(w, 200),
        };
        check(who, "GET groups", list_expect, &groups);

        // Group G: visible to its members (manager, X1) and the workspace's managers.
        let g = &w.group;
        let sees_group = matches!(who, Who::Owner | Who::Admin | Who::Manager | Who::ExternalIn);
        let group_read = match who {
            Who::Anonymous => Refused("unauthenticated"),
            _ if sees_group => Allowed(200),
            _ => Refused("not_found"),
        };
        check(who, "GET group", group_read, &call(Method::GET, format!("/api/v1/groups/{g}"), None).await);
        check(
            who,
            "GET group members",
            group_read,
            &call(Method::GET, format!("/api/v1/groups/{g}/members"), None).await,
        );
        let (_, newcomer) = app.new_account(&format!("new-{:?}@x.test", who).to_lowercase(), "New").await;
        let joined =
            call(Method::POST, format!("/api/v1/groups/{g}/members"), Some(json!({"account_id": newcomer}))).await;
        let group_manage = match who {
            Who::Owner | Who::Admin | Who::Manager => Allowed(204),
            Who::ExternalIn => Refused("forbidden"),
            _ => group_read,
        };
        check(who, "POST group member", group_manage, &joined);

        // Search: what the caller cannot read is simply not there.
        let found = call(Method::GET, "/api/v1/search?q=zebra".into(), None).await;
        if who == Who::Anonymous {
            assert_eq!(found.code(), "unauthenticated");
        } else {
            assert_eq!(found.status, StatusCode::OK);
            let hits = found.body["hits"].as_array().unwrap().len();
            assert_eq!(hits, usize::from(sees_thread(who)), "{who:?} search");
        }

        // Inviting into the workspace (owners, admins, managers) and its audit log (owners,
        // admins).
        let invitee = format!("invitee-{who:?}@x.test").to_lowercase();
        let invited = call(
            Method::POST,
            format!("/api/v1/workspaces/{ws}/invitations"),
            Some(json!({"invitations": [{"email": invitee, "role": "member"}]})),
        )
        .await;
        check(who, "POST invitations", invite_rights(who, 201), &invited);
        let listed = call(Method::GET, format!("/api/v1/workspaces/{ws}/invitations"), None).await;
        check(who, "GET invitations", invite_rights(who, 200), &listed);
        let audit = call(Method::GET, format!("/api/v1/workspaces/{ws}/audit"), None).await;
        let audit_expect = match who {
            Who::Manager | Who::Member => Refused("forbidden"),
            w => invite_rights(w, 200),
        };
        check(who, "GET audit", audit_expect, &audit);
        cells += 20;
    }
    // 24 endpoints × 10 kinds of caller.
    assert_eq!(cells, 24 * EVERYONE.len());
}

async fn removal_takes_the_whole_conversation_and_keeps_other_paths(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let x1 = Who::ExternalIn;
    // T2: addressed to G and to X1 directly. T: through G only.
    let t2 = app
        .post(
            &format!("/api/v1/workspaces/{}/threads", w.ws),
            w.token(Who::Manager),
            json!({"subject": "Second", "groups": [w.group], "accounts": [w.id(x1)]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.post(Who::Manager, &t2, "second zebra").await;
    let t = &w.thread;
    app.call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/ok"), w.token(x1), None).await;
    let before = app.get(&format!("/api/v1/conversations/{t}/messages"), w.as_(x1)).await;
    assert_eq!(before.status, StatusCode::OK);

    let removed = app.delete(&format!("/api/v1/groups/{}/members/{}", w.group, w.id(x1)), w.as_(Who::Manager)).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["action"], "group_member_removed");

    // The moment the call returned: everything of T and of G's chat answers like missing,
    // exactly as for an id that never existed.
    let ghost = "4242424242424242";
    for path in [
        "/api/v1/conversations/{c}",
        "/api/v1/conversations/{c}/messages",
        "/api/v1/conversations/{c}/messages/1",
        "/api/v1/conversations/{c}/audience",
    ] {
        for c in [t.as_str(), w.group.as_str()] {
            let gone = app.get(&path.replace("{c}", c), w.as_(x1)).await;
            let never = app.get(&path.replace("{c}", ghost), w.as_(x1)).await;
            assert_eq!(gone.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(gone, never, "{path}");
        }
    }
    let react = app
        .call(Method::DELETE, &format!("/api/v1/conversations/{t}/messages/1/reactions/ok"), w.token(x1), None)
        .await;
    assert_eq!(react.code(), "not_found");
    let post = w.post(x1, t, "still here?").await;
    assert_eq!(post.code(), "not_found");
    assert_eq!(app.get(&format!("/api/v1/groups/{}/members", w.group), w.as_(x1)).await.code(), "not_found");
    let search = app.get("/api/v1/search?q=zebra", w.as_(x1)).await;
    let hits: Vec<&str> =
        search.body["hits"].as_array().unwrap().iter().map(|h| h["conversation_id"].as_str().unwrap()).collect();
    assert_eq!(hits, vec![t2.as_str()], "only what is still reachable is found");
    let listed = app.get("/api/v1/conversations", w.as_(x1)).await;
    let listed: Vec<&str> = listed.body["workspaces"][0]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![t2.as_str()]);

    // T2 stays: X1 was also addressed directly.
    assert_eq!(app.get(&format!("/api/v1/conversations/{t2}/messages"), w.as_(x1)).await.status, StatusCode::OK);
    // And the others lost nothing.
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{t}/messages"), w.as_(Who::Manager)).await.status,
        StatusCode::OK
    );

    // Taking the whole group off T removes the access of whoever had only that path.
    let (y_token, y) = app.new_account("y@partner.test", "Y").await;
    app.post(&format!("/api/v1/groups/{}/members", w.group), w.token(Who::Manager), json!({"account_id": y})).await;
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{t}/messages"), &y_token).await.status,
        StatusCode::OK,
        "history included"
    );
    let off = app.delete(&format!("/api/v1/conversations/{t}/recipients/groups/{}", w.group), w.as_(Who::Member)).await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["action"], "group_unaddressed");
    assert_eq!(app.get(&format!("/api/v1/conversations/{t}"), &y_token).await.code(), "not_found");
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{}", w.group), &y_token).await.status,
        StatusCode::OK,
        "the group's chat stays"
    );
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{t}"), w.as_(Who::Manager)).await.status,
        StatusCode::OK,
        "direct path"
    );
}

async fn concurrent_posters_get_a_gapless_sequence(backend: Backend) {
    let w = world(backend).await;
    let posters = [Who::Owner, Who::Manager, Who::Member, Who::ExternalIn];
    let mut tasks = Vec::new();
    for who in posters {
        let (client, base, token, thread) =
            (w.app.client.clone(), w.app.base.clone(), w.as_(who).to_owned(), w.thread.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let answer = client
                    .post(format!("{base}/api/v1/conversations/{thread}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("message {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), StatusCode::CREATED);
                seqs.push(answer.json::<Value>().await.unwrap()["seq"].as_i64().unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(seqs.windows(2).all(|p| p[0] < p[1]), "one poster's messages are in order");
        all.extend(seqs);
    }
    all.sort_unstable();
    // The world posted two before.
    assert_eq!(all, (3..=102).collect::<Vec<i64>>(), "every number used once, no gaps");
    let page =
        w.app.get(&format!("/api/v1/conversations/{}/messages?after=0&limit=200", w.thread), w.as_(Who::Member)).await;
    let seqs: Vec<i64> = page.body["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=102).collect::<Vec<i64>>());
}

async fn resends_are_idempotent(backend: Backend) {
    let w = world(backend).await;
    let path = format!("/api/v1/conversations/{}/messages", w.thread);
    let first = w.app.post(&path, w.token(Who::Member), json!({"body": "once", "client_id": "c-1"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = w.app.post(&path, w.token(Who::Member), json!({"body": "once", "client_id": "c-1"})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body, "the original message, not a copy");
    let other = w.app.post(&path, w.token(Who::Member), json!({"body": "twice", "client_id": "c-1"})).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.code(), "client_id_reused");
    // Another author may use the same client id; and no number was lost.
    let theirs = w.app.post(&path, w.token(Who::Owner), json!({"body": "mine", "client_id": "c-1"})).await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_eq!(theirs.body["seq"].as_i64().unwrap(), first.body["seq"].as_i64().unwrap() + 1);
    // A resend after the thread closed is still answered with the original.
    w.app.patch(&format!("/api/v1/conversations/{}", w.thread), w.as_(Who::Member), json!({"locked": true})).await;
    let late = w.app.post(&path, w.token(Who::Member), json!({"body": "once", "client_id": "c-1"})).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(late.body, first.body);
    let fresh = w.app.post(&path, w.token(Who::Member), json!({"body": "new", "client_id": "c-2"})).await;
    assert_eq!(fresh.code(), "conversation_locked");
}

fn seqs(page: &Answer) -> Vec<i64> {
    page.body["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

async fn history_pages_by_sequence(backend: Backend) {
    let w = world(backend).await;
    for i in 3..=30 {
        w.post(Who::Member, &w.thread, &format!("m{i}")).await;
    }
    let base = format!("/api/v1/conversations/{}/messages", w.thread);
    let world = &w;
    let get = |q: &'static str| {
        let path = format!("{base}{q}");
        async move { world.app.get(&path, world.as_(Who::Owner)).await }
    };
    let newest = get("?limit=10").await;
    assert_eq!(seqs(&newest), (21..=30).collect::<Vec<_>>());
    assert_eq!((newest.body["has_before"].clone(), newest.body["has_after"].clone()), (json!(true), json!(false)));
    assert_eq!(seqs(&get("?before=21&limit=10").await), (11..=20).collect::<Vec<_>>());
    assert_eq!(seqs(&get("?before=3").await), vec![1, 2]);
    let after = get("?after=25").await;
    assert_eq!(seqs(&after), (26..=30).collect::<Vec<_>>());
    assert_eq!(after.body["has_after"], false);
    assert_eq!(seqs(&get("?around=15&limit=5").await), (13..=17).collect::<Vec<_>>());
    assert_eq!(seqs(&get("?after=30").await), Vec::<i64>::new());
    for bad in ["?limit=0", "?limit=201", "?before=5&after=1", "?after=9223372036854775807", "?around=-1"] {
        assert_eq!(get(bad).await.code(), "validation_failed", "{bad}");
    }
    for bad in ["?limit=ten", "?sort=desc"] {
        assert_eq!(get(bad).await.code(), "invalid_request", "{bad}");
    }
}

async fn reading_state_and_the_conversation_list(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let find = |list: &Value, id: &str| -> Value {
        list["workspaces"][0]["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone()
    };
    // Two messages already (the member's and X3's); the owner has read nothing.
    w.post(Who::Member, &w.thread, "third").await;
    let list = app.get("/api/v1/conversations", w.as_(Who::Owner)).await;
    assert_eq!(list.body["workspaces"][0]["workspace_name"], "Acme");
    assert_eq!(list.body["workspaces"][0]["my_role"], "owner");
    let t = find(&list.body, &w.thread);
    assert_eq!((t["unread"].clone(), t["last_seq"].clone()), (json!(3), json!(3)));
    assert_eq!(t["last_message"]["body"], "third");
    assert_eq!(t["kind"], "thread");
    assert_eq!(list.body["workspaces"][0]["conversations"][0]["id"], w.thread, "newest activity first");

    let marked =
        app.post(&format!("/api/v1/conversations/{}/read", w.thread), w.token(Who::Owner), json!({"seq": 2})).await;
    assert_eq!((marked.body["read_seq"].clone(), marked.body["unread"].clone()), (json!(2), json!(1)));
    let back =
        app.post(&format!("/api/v1/conversations/{}/read", w.thread), w.token(Who::Owner), json!({"seq": 1})).await;
    assert_eq!(back.body["read_seq"], 2, "a read marker never moves back");
    let beyond =
        app.post(&format!("/api/v1/conversations/{}/read", w.thread), w.token(Who::Owner), json!({"seq": 99})).await;
    assert_eq!(beyond.body["read_seq"], 3);
    // Own messages are never unread; deleted ones neither.
    w.post(Who::Owner, &w.thread, "mine").await;
    let t = find(&app.get("/api/v1/conversations", w.as_(Who::Owner)).await.body, &w.thread);
    assert_eq!(t["unread"], 0);
    let mine = find(&app.get("/api/v1/conversations", w.as_(Who::Member)).await.body, &w.thread);
    assert_eq!(mine["unread"], 2, "X3's message and the owner's");

    // An external in two workspaces sees them as two groups.
    let other = app.post("/api/v1/workspaces", w.token(Who::Stranger), json!({"name": "Beta"})).await;
    let beta = other.body["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/workspaces/{beta}/threads"),
        w.token(Who::Stranger),
        json!({"subject": "Beta thread", "accounts": [w.id(Who::ExternalIn)]}),
    )
    .await;
    let list = app.get("/api/v1/conversations", w.as_(Who::ExternalIn)).await;
    let names: Vec<&str> =
        list.body["workspaces"].as_array().unwrap().iter().map(|g| g["workspace_name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Acme") && names.contains(&"Beta"), "{names:?}");
    assert!(
        list.body["workspaces"].as_array().unwrap().iter().all(|g| g["my_role"].is_null()),
        "an external has no role"
    );
}

async fn search_finds_only_what_the_caller_can_read(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    w.post(Who::Owner, &w.thread, "The quarterly Zebra report is ready").await;
    let admin_thread = app
        .post(&format!("/api/v1/workspaces/{}/threads", w.ws), w.token(Who::Admin), json!({"subject": "Admins only"}))
        .await;
    let admin_thread = admin_thread.body["id"].as_str().unwrap().to_owned();
    w.post(Who::Admin, &admin_thread, "secret zebra budget").await;

    let owner = app.get("/api/v1/search?q=zebra", w.as_(Who::Owner)).await;
    let found: Vec<&str> =
        owner.body["hits"].as_array().unwrap().iter().map(|h| h["message"]["body"].as_str().unwrap()).collect();
    assert_eq!(
        found,
        vec!["The quarterly Zebra report is ready", "kickoff zebra notes"],
        "newest first, case-insensitive"
    );
    assert_eq!(owner.body["hits"][0]["workspace_id"], w.ws);
    let both = app.get("/api/v1/search?q=zebra%20report", w.as_(Who::Owner)).await;
    assert_eq!(both.body["hits"].as_array().unwrap().len(), 1, "every word must occur");
    let admin = app.get("/api/v1/search?q=zebra", w.as_(Who::Admin)).await;
    let found: Vec<&str> =
        admin.body["hits"].as_array().unwrap().iter().map(|h| h["message"]["body"].as_str().unwrap()).collect();
    assert_eq!(found, vec!["secret zebra budget"], "an admin does not read threads they are not in");
    // Query syntax is never interpreted.
    for q in ["zebra%22%20OR%20budget", "NEAR(zebra)", "zebra*", "%22unclosed"] {
        let answer = app.get(&format!("/api/v1/search?q={q}"), w.as_(Who::Owner)).await;
        assert_eq!(answer.status, StatusCode::OK, "{q}: {answer:?}");
    }
    // An edited message is found by its new words only.
    let seq = owner.body["hits"][0]["message"]["seq"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{}/messages/{seq}", w.thread);
    let edited = app.patch(&path, w.as_(Who::Owner), json!({"body": "The quarterly Okapi report is ready"})).await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    let okapi = app.get("/api/v1/search?q=okapi", w.as_(Who::Owner)).await;
    assert_eq!(okapi.body["hits"].as_array().unwrap().len(), 1, "the new words are found at once");
    let zebra = app.get("/api/v1/search?q=zebra%20report", w.as_(Who::Owner)).await;
    assert_eq!(zebra.body["hits"], json!([]), "the old words are not");
    // A deleted message is no longer found.
    app.delete(&format!("/api/v1/conversations/{}/messages/{seq}", w.thread), w.as_(Who::Owner)).await;
    let after = app.get("/api/v1/search?q=quarterly", w.as_(Who::Owner)).await;
    assert_eq!(after.body["hits"], json!([]));
    assert_eq!(app.get("/api/v1/search?q=%20%20", w.as_(Who::Owner)).await.code(), "validation_failed");
    assert_eq!(
        app.get(&format!("/api/v1/search?q=zebra&workspace_id={}", "1"), w.as_(Who::Owner)).await.body["hits"],
        json!([])
    );
}

async fn lite_users_read_and_never_write(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let lite = w.token(Who::Lite);
    let t = &w.thread;
    let before = app.get(&format!("/api/v1/conversations/{t}/messages"), w.as_(Who::Lite)).await;
    assert_eq!(before.status, StatusCode::OK, "lite users read");
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("/api/v1/conversations/{t}/messages"), Some(json!({"body": "hi"}))),
        (Method::PATCH, format!("/api/v1/conversations/{t}/messages/1"), Some(json!({"body": "changed"}))),
        (Method::DELETE, format!("/api/v1/conversations/{t}/messages/1"), None),
        (Method::PUT, format!("/api/v1/conversations/{t}/messages/1/reactions/ok"), None),
        (Method::PATCH, format!("/api/v1/conversations/{t}"), Some(json!({"subject": "Mine"}))),
        (
            Method::POST,
            format!("/api/v1/conversations/{t}/recipients"),
            Some(json!({"account_id": w.id(Who::Stranger)})),
        ),
        (Method::POST, format!("/api/v1/workspaces/{}/threads", w.ws), Some(json!({"subject": "Lite thread"}))),
        (Method::POST, format!("/api/v1/workspaces/{}/groups", w.ws), Some(json!({"name": "Lite group"}))),
        (Method::POST, format!("/api/v1/workspaces/{}/direct", w.ws), Some(json!({"account_id": w.id(Who::Owner)}))),
    ];
    for (method, path, body) in attempts {
        let answer = app.call(method.clone(), &path, lite, body).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer.code(), "read_only", "{method} {path}");
    }
    let after = app.get(&format!("/api/v1/conversations/{t}/messages"), w.as_(Who::Lite)).await;
    assert_eq!(after.body, before.body, "nothing was stored");
    let conversation = app.get(&format!("/api/v1/conversations/{t}"), w.as_(Who::Lite)).await;
    assert_eq!(conversation.body["can_post"], false);
    assert_eq!(conversation.body["title"], "Launch plan");
    assert_eq!(app.get("/api/v1/search?q=noon", w.as_(Who::Lite)).await.status, StatusCode::OK);
}

async fn externals_are_marked_everywhere(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    w.post(Who::ExternalIn, &w.thread, "from outside").await;
    let audience = app.get(&format!("/api/v1/conversations/{}/audience", w.thread), w.as_(Who::Member)).await;
    let participants = audience.body["participants"].as_array().unwrap();
    let external = |list: &[Value], id: &str| list.iter().find(|p| p["account_id"] == id).unwrap()["external"].clone();
    assert_eq!(external(participants, w.id(Who::Owner)), false);
    assert_eq!(external(participants, w.id(Who::Lite)), false, "lite users are members, not externals");
    assert!(participants.iter().all(|p| p["account_id"] != w.id(Who::ExternalRemoved)), "X3 was removed");
    let group = &audience.body["groups"][0];
    assert_eq!(group["name"], "Client group");
    assert_eq!(external(group["members"].as_array().unwrap(), w.id(Who::ExternalIn)), true);
    assert_eq!(external(group["members"].as_array().unwrap(), w.id(Who::Manager)), false);
    let members = app.get(&format!("/api/v1/groups/{}/members", w.group), w.as_(Who::Manager)).await;
    assert_eq!(external(members.body["people"].as_array().unwrap(), w.id(Who::ExternalIn)), true);
    let history = app.get(&format!("/api/v1/conversations/{}/messages", w.thread), w.as_(Who::Member)).await;
    let last = history.body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["author"]["external"], true);
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{}", w.thread), w.as_(Who::Member)).await.body["has_externals"],
        true
    );
    let inside = app
        .post(
            &format!("/api/v1/workspaces/{}/threads", w.ws),
            w.token(Who::Member),
            json!({"subject": "Inside", "accounts": [w.id(Who::Owner)]}),
        )
        .await;
    assert_eq!(inside.body["has_externals"], false);
    // The workspace's directory lists its guests apart, marked external; someone removed
    // from everything is no longer one.
    let world = &w;
    let guests_seen_by = |who: Who| {
        let path = format!("/api/v1/workspaces/{}/members", world.ws);
        async move {
            let directory = world.app.get(&path, world.as_(who)).await;
            directory.body["externals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["account_id"].as_str().unwrap().to_owned())
                .collect::<Vec<String>>()
        }
    };
    let owner_sees = guests_seen_by(Who::Owner).await;
    assert!(owner_sees.contains(&w.id(Who::ExternalIn).to_owned()), "{owner_sees:?}");
    assert!(owner_sees.contains(&w.id(Who::ExternalOut).to_owned()), "the owner's other thread");
    assert!(!owner_sees.contains(&w.id(Who::ExternalRemoved).to_owned()));
    // Only guests of conversations the caller can see: the lite user is not in the
    // owner's other thread, so X2 stays hidden from them.
    let lite_sees = guests_seen_by(Who::Lite).await;
    assert_eq!(lite_sees, vec![w.id(Who::ExternalIn).to_owned()]);
    let directory = app.get(&format!("/api/v1/workspaces/{}/members", w.ws), w.as_(Who::Member)).await;
    assert!(directory.body["externals"].as_array().unwrap().iter().all(|p| p["external"] == true));
    assert!(directory.body["members"].as_array().unwrap().iter().all(|p| p["external"] == false));
    // Externals never see the workspace, its directory or its groups.
    for path in [
        format!("/api/v1/workspaces/{}", w.ws),
        format!("/api/v1/workspaces/{}/members", w.ws),
        format!("/api/v1/workspaces/{}/groups", w.ws),
    ] {
        assert_eq!(app.get(&path, w.as_(Who::ExternalIn)).await.code(), "not_found", "{path}");
    }
    // Contacts and profiles: people one shares a conversation with, and nobody else.
    let contacts = app.get("/api/v1/contacts", w.as_(Who::ExternalIn)).await;
    let names: Vec<&str> =
        contacts.body["contacts"].as_array().unwrap().iter().map(|c| c["display_name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Member") && names.contains(&"Manager") && !names.contains(&"Admin"), "{names:?}");
    assert_eq!(
        app.get(&format!("/api/v1/people/{}", w.id(Who::Member)), w.as_(Who::ExternalIn)).await.status,
        StatusCode::OK
    );
    let hidden = app.get(&format!("/api/v1/people/{}", w.id(Who::Admin)), w.as_(Who::ExternalIn)).await;
    let ghost = app.get("/api/v1/people/77777777777", w.as_(Who::ExternalIn)).await;
    assert_eq!(hidden.code(), "not_found");
    assert_eq!(hidden, ghost);
    assert_eq!(
        app.get(&format!("/api/v1/people/{}", w.id(Who::Admin)), w.as_(Who::Lite)).await.status,
        StatusCode::OK,
        "same workspace"
    );
}

async fn edit_delete_and_moderation(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = &w.thread;
    let edited = app
        .patch(&format!("/api/v1/conversations/{t}/messages/1"), w.as_(Who::Member), json!({"body": "edited"}))
        .await;
    assert_eq!(edited.body["body"], "edited");
    assert!(edited.body["edited_at"].is_i64());
    let empty =
        app.patch(&format!("/api/v1/conversations/{t}/messages/1"), w.as_(Who::Member), json!({"body": "   "})).await;
    assert_eq!(empty.code(), "validation_failed");
    let long = app
        .patch(&format!("/api/v1/conversations/{t}/messages/1"), w.as_(Who::Member), json!({"body": "x".repeat(65537)}))
        .await;
    assert_eq!(long.code(), "validation_failed");
    app.call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/tada"), w.token(Who::Owner), None)
        .await;
    app.call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/tada"), w.token(Who::Manager), None)
        .await;
    app.call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/tada"), w.token(Who::Manager), None)
        .await;
    let message = app.get(&format!("/api/v1/conversations/{t}/messages/1"), w.as_(Who::Manager)).await;
    assert_eq!(message.body["reactions"], json!([{"emoji": "tada", "count": 2, "me": true}]));
    let bad = app
        .call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/a%20b"), w.token(Who::Owner), None)
        .await;
    assert_eq!(bad.code(), "validation_failed");

    // The manager moderates the external's message (seq 2 was X3's, now removed).
    let moderated = app.delete(&format!("/api/v1/conversations/{t}/messages/2"), w.as_(Who::Manager)).await;
    assert_eq!(moderated.status, StatusCode::NO_CONTENT);
    let tomb = app.get(&format!("/api/v1/conversations/{t}/messages/2"), w.as_(Who::Member)).await;
    assert_eq!(tomb.body["body"], "");
    assert!(tomb.body["deleted_at"].is_i64());
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{t}/messages/2"), w.as_(Who::Manager)).await.code(),
        "not_found"
    );
    let react = app
        .call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/2/reactions/ok"), w.token(Who::Owner), None)
        .await;
    assert_eq!(react.code(), "not_found", "no reactions on a deleted message");
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{t}/messages/99"), w.as_(Who::Member)).await.code(),
        "not_found"
    );
    // Deleting keeps the numbering: the next message is 3.
    assert_eq!(w.post(Who::Member, t, "next").await.body["seq"], 3);
}

async fn replies_and_mentions_are_checked(backend: Backend) {
    let w = world(backend).await;
    let path = format!("/api/v1/conversations/{}/messages", w.thread);
    let reply = w
        .app
        .post(&path, w.token(Who::Owner), json!({"body": "re", "reply_to": 1, "mentions": [w.id(Who::ExternalIn)]}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["reply_to"], 1);
    assert_eq!(reply.body["mentions"], json!([w.id(Who::ExternalIn)]));
    for body in [
        json!({"body": "re", "reply_to": 99}),
        json!({"body": "re", "reply_to": 0}),
        json!({"body": "hey", "mentions": [w.id(Who::Admin)]}),
        json!({"body": "hey", "mentions": [w.id(Who::ExternalRemoved)]}),
        json!({"body": "x", "client_id": ""}),
    ] {
        let answer = w.app.post(&path, w.token(Who::Owner), body.clone()).await;
        assert_eq!(answer.code(), "validation_failed", "{body}");
    }
    let history = w.app.get(&path, w.as_(Who::Owner)).await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 3, "refused posts stored nothing");
}

async fn closed_threads_and_archived_groups_are_read_only(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = &w.thread;
    let closed = app.patch(&format!("/api/v1/conversations/{t}"), w.as_(Who::Member), json!({"locked": true})).await;
    assert_eq!(closed.body["locked"], true);
    assert_eq!(closed.body["can_post"], false);
    assert_eq!(w.post(Who::Owner, t, "too late").await.code(), "conversation_locked");
    let react = app
        .call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/1/reactions/ok"), w.token(Who::Owner), None)
        .await;
    assert_eq!(react.code(), "conversation_locked");
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{t}/messages"), w.as_(Who::ExternalIn)).await.status,
        StatusCode::OK
    );
    app.patch(&format!("/api/v1/conversations/{t}"), w.as_(Who::Member), json!({"locked": false})).await;
    assert_eq!(w.post(Who::Owner, t, "reopened").await.status, StatusCode::CREATED);

    let g = &w.group;
    assert_eq!(w.post(Who::ExternalIn, g, "in the group chat").await.status, StatusCode::CREATED);
    let archived = app
        .patch(&format!("/api/v1/groups/{g}"), w.as_(Who::Manager), json!({"archived": true, "name": "Old clients"}))
        .await;
    assert_eq!((archived.body["archived"].clone(), archived.body["name"].clone()), (json!(true), json!("Old clients")));
    assert_eq!(w.post(Who::Manager, g, "anyone?").await.code(), "conversation_locked");
    let renamed_by_guest =
        app.patch(&format!("/api/v1/groups/{g}"), w.as_(Who::ExternalIn), json!({"name": "Mine"})).await;
    assert_eq!(renamed_by_guest.code(), "forbidden");
    let not_a_thread =
        app.patch(&format!("/api/v1/conversations/{g}"), w.as_(Who::Manager), json!({"subject": "x"})).await;
    assert_eq!(not_a_thread.code(), "forbidden");
}

async fn direct_conversations(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let path = format!("/api/v1/workspaces/{}/direct", w.ws);
    let first = app.post(&path, w.token(Who::Member), json!({"account_id": w.id(Who::Admin)})).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body["kind"], "direct");
    assert_eq!(first.body["title"], "");
    let again = app.post(&path, w.token(Who::Admin), json!({"account_id": w.id(Who::Member)})).await;
    assert_eq!(again.body["id"], first.body["id"], "one direct conversation per pair");
    // A guest writes to a contact, not to anyone in the workspace.
    let to_contact = app.post(&path, w.token(Who::ExternalIn), json!({"account_id": w.id(Who::Member)})).await;
    assert_eq!(to_contact.status, StatusCode::OK);
    assert_eq!(to_contact.body["has_externals"], true);
    let to_stranger = app.post(&path, w.token(Who::ExternalIn), json!({"account_id": w.id(Who::Admin)})).await;
    assert_eq!(to_stranger.code(), "not_found");
    let outsider = app.post(&path, w.token(Who::Stranger), json!({"account_id": w.id(Who::Member)})).await;
    assert_eq!(outsider.code(), "not_found");
    let myself = app.post(&path, w.token(Who::Member), json!({"account_id": w.id(Who::Member)})).await;
    assert_eq!(myself.code(), "validation_failed");
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(w.post(Who::Admin, id, "psst").await.status, StatusCode::CREATED);
    assert_eq!(app.get(&format!("/api/v1/conversations/{id}/messages"), w.as_(Who::Owner)).await.code(), "not_found");
}

async fn leaving_the_workspace_leaves_its_conversations(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let direct = app
        .post(
            &format!("/api/v1/workspaces/{}/direct", w.ws),
            w.token(Who::Member),
            json!({"account_id": w.id(Who::Admin)}),
        )
        .await;
    let direct = direct.body["id"].as_str().unwrap().to_owned();
    let group = app
        .post(&format!("/api/v1/workspaces/{}/groups", w.ws), w.token(Who::Member), json!({"name": "Members' group"}))
        .await;
    let group = group.body["id"].as_str().unwrap().to_owned();
    let removed =
        app.delete(&format!("/api/v1/workspaces/{}/members/{}", w.ws, w.id(Who::Member)), w.as_(Who::Owner)).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["action"], "member_removed");
    for c in [&w.thread, &direct, &group] {
        let gone = app.get(&format!("/api/v1/conversations/{c}/messages"), w.as_(Who::Member)).await;
        assert_eq!(gone.code(), "not_found", "{c}");
        assert_eq!(w.post(Who::Member, c, "still here?").await.code(), "not_found");
    }
    assert_eq!(app.get("/api/v1/conversations", w.as_(Who::Member)).await.body["workspaces"], json!([]));
    // The others keep them.
    assert_eq!(app.get(&format!("/api/v1/conversations/{direct}"), w.as_(Who::Admin)).await.status, StatusCode::OK);
    let audience = app.get(&format!("/api/v1/conversations/{}/audience", w.thread), w.as_(Who::Owner)).await;
    assert!(audience.body["participants"].as_array().unwrap().iter().all(|p| p["account_id"] != w.id(Who::Member)));
}

async fn guests_see_people_not_group_names(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let t = &w.thread;
    let added = app
        .post(
            &format!("/api/v1/conversations/{t}/recipients"),
            w.token(Who::Member),
            json!({"account_id": w.id(Who::ExternalOut)}),
        )
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT);
    let seen = app.get(&format!("/api/v1/conversations/{t}/audience"), w.as_(Who::ExternalOut)).await;
    assert_eq!(seen.body["groups"], json!([]), "X2 is not in the group: its name stays hidden");
    let people: Vec<&str> =
        seen.body["participants"].as_array().unwrap().iter().map(|p| p["account_id"].as_str().unwrap()).collect();
    assert!(people.contains(&w.id(Who::ExternalIn)) && people.contains(&w.id(Who::Manager)), "{people:?}");
    assert!(!seen.body.to_string().contains("Client group"));
    // X1 belongs to the group and sees it by name; members see every group.
    let x1 = app.get(&format!("/api/v1/conversations/{t}/audience"), w.as_(Who::ExternalIn)).await;
    assert_eq!(x1.body["groups"][0]["name"], "Client group");
    let member = app.get(&format!("/api/v1/conversations/{t}/audience"), w.as_(Who::Member)).await;
    assert_eq!(member.body["groups"][0]["name"], "Client group");
}

async fn managers_cannot_add_themselves_to_groups(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let path = format!("/api/v1/groups/{}/members", w.group);
    let me = app.post(&path, w.token(Who::Admin), json!({"account_id": w.id(Who::Admin)})).await;
    assert_eq!(me.code(), "forbidden", "an admin does not read a group's threads by joining it");
    assert_eq!(app.get(&format!("/api/v1/conversations/{}", w.thread), w.as_(Who::Admin)).await.code(), "not_found");
    let by_member = app.post(&path, w.token(Who::Manager), json!({"account_id": w.id(Who::Admin)})).await;
    assert_eq!(by_member.status, StatusCode::NO_CONTENT, "a member of the group may add them");
    assert_eq!(app.get(&format!("/api/v1/conversations/{}", w.thread), w.as_(Who::Admin)).await.status, StatusCode::OK);
}
