//! Workspaces through the HTTP API, on both backends: creation, listing, renaming, roles,
//! the seat limit, the last owner, and "what you may not see answers like what does not
//! exist".

mod common;

use common::{Answer, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use salon::config::Backend;
use salon::domain::{AccountId, Role, WorkspaceId};
use serde_json::{Value, json};

on_both_backends!(
    creator_becomes_owner_and_can_rename,
    a_workspace_you_are_not_in_answers_like_one_that_does_not_exist,
    who_may_rename_and_change_roles,
    only_owners_touch_the_owner_role,
    the_last_owner_can_neither_leave_nor_be_demoted,
    members_can_leave_and_admins_remove,
    the_seat_limit_counts_every_role_but_lite,
    bad_workspace_input_is_refused,
);

struct Team {
    app: TestApp,
    ws: String,
    owner: (String, String),
    admin: (String, String),
    manager: (String, String),
    member: (String, String),
    lite: (String, String),
}

/// A workspace with one person of each role. Members are added through the service:
/// invitations, the HTTP way in, come with the guests issue.
async fn team(backend: Backend) -> Team {
    let app = spawn_app(backend).await;
    let owner = app.new_account("owner@example.com", "Olga Owner").await;
    let created = app.post("/api/v1/workspaces", Some(&owner.0), json!({"name": "Acme"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let ws = created.body["id"].as_str().unwrap().to_owned();
    let mut people = Vec::new();
    for (email, name, role) in [
        ("admin@example.com", "Adam Admin", Role::Admin),
        ("manager@example.com", "Mona Manager", Role::Manager),
        ("member@example.com", "Mel Member", Role::Member),
        ("lite@example.com", "Lee Lite", Role::Lite),
    ] {
        let person = app.new_account(email, name).await;
        add(&app, &ws, &person.1, role).await.unwrap();
        people.push(person);
    }
    let mut people = people.into_iter();
    Team {
        ws,
        owner,
        admin: people.next().unwrap(),
        manager: people.next().unwrap(),
        member: people.next().unwrap(),
        lite: people.next().unwrap(),
        app,
    }
}

async fn add(app: &TestApp, ws: &str, account: &str, role: Role) -> Result<(), salon::services::Error> {
    let ws = WorkspaceId(ws.parse().unwrap());
    let account = AccountId(account.parse().unwrap());
    app.services.workspaces.add_member(ws, account, role).await
}

async fn set_role(app: &TestApp, ws: &str, token: &str, target: &str, role: &str) -> Answer {
    app.patch(&format!("/api/v1/workspaces/{ws}/members/{target}"), token, json!({"role": role})).await
}

async fn creator_becomes_owner_and_can_rename(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, me) = app.new_account("pa@example.com", "Pa").await;
    let created = app.post("/api/v1/workspaces", Some(&token), json!({"name": "  Acme Corp "})).await;
    assert_eq!(created.body["name"], "Acme Corp");
    assert_eq!(created.body["my_role"], "owner");
    assert_eq!(created.body["seats_used"], 1);
    assert_eq!(created.body["seat_limit"], 50);
    let id = created.body["id"].as_str().unwrap();

    let list = app.get("/api/v1/workspaces", &token).await;
    assert_eq!(list.body["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["workspaces"][0], created.body);

    let renamed = app.patch(&format!("/api/v1/workspaces/{id}"), &token, json!({"name": "Acme Ltd"})).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["name"], "Acme Ltd");
    assert_eq!(app.get(&format!("/api/v1/workspaces/{id}"), &token).await.body["name"], "Acme Ltd");

    let members = app.get(&format!("/api/v1/workspaces/{id}/members"), &token).await;
    let members = members.body["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["account_id"], me);
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(members[0]["external"], false);
}

async fn a_workspace_you_are_not_in_answers_like_one_that_does_not_exist(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    let (stranger, _) = app.new_account("stranger@example.com", "Sam Stranger").await;
    let missing = "1234567890123";
    let member = &t.member.1;
    // Every workspace endpoint, for a real workspace the stranger is not in, for one that
    // does not exist, and for an id that is not even a number.
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/workspaces/{ws}".into(), None),
        (Method::PATCH, "/api/v1/workspaces/{ws}".into(), Some(json!({"name": "Mine now"}))),
        (Method::GET, "/api/v1/workspaces/{ws}/members".into(), None),
        (Method::PATCH, format!("/api/v1/workspaces/{{ws}}/members/{member}"), Some(json!({"role": "owner"}))),
        (Method::DELETE, format!("/api/v1/workspaces/{{ws}}/members/{member}"), None),
    ];
    for (method, path, body) in calls {
        let hidden = app.call(method.clone(), &path.replace("{ws}", &t.ws), Some(&stranger), body.clone()).await;
        let absent = app.call(method.clone(), &path.replace("{ws}", missing), Some(&stranger), body.clone()).await;
        let garbage = app.call(method.clone(), &path.replace("{ws}", "not-an-id"), Some(&stranger), body).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(hidden.code(), "not_found");
        assert_eq!(hidden, absent, "{method} {path}");
        assert_eq!(hidden, garbage, "{method} {path}");
    }
    let list = app.get("/api/v1/workspaces", &stranger).await;
    assert_eq!(list.body["workspaces"], json!([]));
    // Nothing the stranger tried changed anything.
    let ws = app.get(&format!("/api/v1/workspaces/{}", t.ws), &t.owner.0).await;
    assert_eq!(ws.body["name"], "Acme");
    assert_eq!(ws.body["seats_used"], 4);
}

async fn who_may_rename_and_change_roles(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    let path = format!("/api/v1/workspaces/{}", t.ws);
    // Lite users are refused every write as read-only; other roles as forbidden.
    for (who, allowed, refusal) in [
        (&t.owner, true, ""),
        (&t.admin, true, ""),
        (&t.manager, false, "forbidden"),
        (&t.member, false, "forbidden"),
        (&t.lite, false, "read_only"),
    ] {
        let answer = app.patch(&path, &who.0, json!({"name": "Renamed"})).await;
        if allowed {
            assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        } else {
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
            assert_eq!(answer.code(), refusal);
        }
        let role_change = set_role(app, &t.ws, &who.0, &t.member.1, "manager").await;
        if allowed {
            assert_eq!(role_change.status, StatusCode::NO_CONTENT, "{role_change:?}");
            set_role(app, &t.ws, &t.owner.0, &t.member.1, "member").await;
        } else {
            assert_eq!(role_change.code(), refusal);
        }
    }
    // Every member sees the workspace and its members, with their roles.
    for who in [&t.owner, &t.admin, &t.manager, &t.member, &t.lite] {
        let members = app.get(&format!("{path}/members"), &who.0).await;
        let roles: Vec<&str> =
            members.body["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles.len(), 5);
        assert!(["owner", "admin", "manager", "member", "lite"].iter().all(|r| roles.contains(r)), "{roles:?}");
    }
    let settings = app.patch(&path, &t.admin.0, json!({"seat_limit": 10})).await;
    assert_eq!(settings.code(), "forbidden", "only owners set the seat limit");
}

async fn only_owners_touch_the_owner_role(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    assert_eq!(set_role(app, &t.ws, &t.admin.0, &t.member.1, "owner").await.code(), "forbidden");
    assert_eq!(set_role(app, &t.ws, &t.admin.0, &t.owner.1, "member").await.code(), "forbidden");
    let removal = app.delete(&format!("/api/v1/workspaces/{}/members/{}", t.ws, t.owner.1), &t.admin.0).await;
    assert_eq!(removal.code(), "forbidden");
    assert_eq!(set_role(app, &t.ws, &t.owner.0, &t.admin.1, "owner").await.status, StatusCode::NO_CONTENT);
    let ws = app.get(&format!("/api/v1/workspaces/{}", t.ws), &t.admin.0).await;
    assert_eq!(ws.body["my_role"], "owner");
}

async fn the_last_owner_can_neither_leave_nor_be_demoted(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    let demote = set_role(app, &t.ws, &t.owner.0, &t.owner.1, "admin").await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert_eq!(demote.code(), "last_owner");
    let leave = app.delete(&format!("/api/v1/workspaces/{}/members/{}", t.ws, t.owner.1), &t.owner.0).await;
    assert_eq!(leave.code(), "last_owner");
    // With a second owner, the first may go.
    set_role(app, &t.ws, &t.owner.0, &t.admin.1, "owner").await;
    let leave = app.delete(&format!("/api/v1/workspaces/{}/members/{}", t.ws, t.owner.1), &t.owner.0).await;
    assert_eq!(leave.status, StatusCode::OK);
    assert_eq!(leave.body["action"], "member_left");
    let gone = app.get(&format!("/api/v1/workspaces/{}", t.ws), &t.owner.0).await;
    assert_eq!(gone.code(), "not_found", "a former member no longer sees the workspace");
}

async fn members_can_leave_and_admins_remove(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    let base = format!("/api/v1/workspaces/{}/members", t.ws);
    assert_eq!(app.delete(&format!("{base}/{}", t.admin.1), &t.member.0).await.code(), "forbidden");
    assert_eq!(app.delete(&format!("{base}/{}", t.member.1), &t.member.0).await.status, StatusCode::OK);
    assert_eq!(app.delete(&format!("{base}/{}", t.lite.1), &t.admin.0).await.status, StatusCode::OK);
    assert_eq!(app.get(&base, &t.lite.0).await.code(), "not_found");
    let left = app.get(&base, &t.owner.0).await;
    assert_eq!(left.body["members"].as_array().unwrap().len(), 3);
    let again = app.delete(&format!("{base}/{}", t.lite.1), &t.admin.0).await;
    assert_eq!(again.code(), "not_found");
}

async fn the_seat_limit_counts_every_role_but_lite(backend: Backend) {
    let t = team(backend).await;
    let app = &t.app;
    let path = format!("/api/v1/workspaces/{}", t.ws);
    let below = app.patch(&path, &t.owner.0, json!({"seat_limit": 3})).await;
    assert_eq!(below.code(), "conflict", "four seats are taken");
    let full = app.patch(&path, &t.owner.0, json!({"seat_limit": 4})).await;
    assert_eq!(full.body["seats_used"], 4);
    assert_eq!(full.body["seat_limit"], 4);

    let extra = app.new_account("extra@example.com", "Ext Ra").await;
    let err = add(app, &t.ws, &extra.1, Role::Member).await.unwrap_err();
    assert!(matches!(err, salon::services::Error::SeatLimitReached), "{err:?}");
    add(app, &t.ws, &extra.1, Role::Lite).await.expect("lite users never take a seat");

    let promote = set_role(app, &t.ws, &t.owner.0, &t.lite.1, "member").await;
    assert_eq!(promote.status, StatusCode::CONFLICT);
    assert_eq!(promote.code(), "seat_limit_reached");
    assert_eq!(app.get(&path, &t.owner.0).await.body["seats_used"], 4, "the refused change changed nothing");
    // Moving a seat-taking member to lite frees a seat for someone else.
    assert_eq!(set_role(app, &t.ws, &t.owner.0, &t.member.1, "lite").await.status, StatusCode::NO_CONTENT);
    assert_eq!(set_role(app, &t.ws, &t.owner.0, &t.lite.1, "member").await.status, StatusCode::NO_CONTENT);
}

async fn bad_workspace_input_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = app.new_account("qa@example.com", "Qa").await;
    for name in ["", "   ", &"x".repeat(81), "tab\there"] {
        let answer = app.post("/api/v1/workspaces", Some(&token), json!({"name": name})).await;
        assert_eq!(answer.code(), "validation_failed", "{name:?}");
        assert_eq!(answer.body["error"]["field"], "name");
    }
    let created = app.post("/api/v1/workspaces", Some(&token), json!({"name": "Ok"})).await;
    let id = created.body["id"].as_str().unwrap();
    let zero = app.patch(&format!("/api/v1/workspaces/{id}"), &token, json!({"seat_limit": 0})).await;
    assert_eq!(zero.code(), "validation_failed");
    let negative = app.patch(&format!("/api/v1/workspaces/{id}"), &token, json!({"seat_limit": -1})).await;
    assert_eq!(negative.code(), "invalid_request");
    let role = set_role(&app, id, &token, "1", "emperor").await;
    assert_eq!(role.code(), "invalid_request");
    assert_eq!(app.get("/api/v1/workspaces", &token).await.body["workspaces"].as_array().unwrap().len(), 1);
}
