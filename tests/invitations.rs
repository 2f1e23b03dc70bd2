//! External guests, invitations and the Lite role, on both backends, with e-mail going
//! through a real SMTP server (aiosmtpd) where the story is about e-mail: the guest story
//! end to end, the client-invitation story, the SMTP-down story, and the safety promises
//! (single use under concurrency, bound to the address, nothing revealed), the Lite limit,
//! handing access over, the audit log and CSV uploads.

mod common;

use common::{PASSWORD, SmtpServer, TestApp, link_token, spawn_app, spawn_app_with_smtp};
use reqwest::{Method, StatusCode};
use salon::config::Backend;
use salon::domain::{AccountId, Role, WorkspaceId};
use serde_json::{Value, json};

on_both_backends!(
    guest_story_end_to_end,
    adding_by_email_reveals_nothing_and_existing_accounts_join_at_once,
    client_invitation_story,
    smtp_down_story,
    parallel_acceptances_one_wins,
    tokens_are_bound_to_their_address_and_die_once_used,
    seats_are_checked_when_an_invitation_is_accepted,
    replace_hands_a_leavers_access_to_a_successor,
    the_audit_log_records_who_did_what,
    csv_upload_invites_a_batch,
    free_accounts_only_message,
    the_same_address_invited_twice_signs_up_once,
    invitations_are_rate_limited,
);

/// A workspace "Acme" with an owner, a manager and a member, a group of the manager's and
/// a thread of the member's.
struct Acme {
    app: TestApp,
    ws: String,
    owner: (String, String),
    manager: (String, String),
    member: (String, String),
    /// "Internal": the manager and the member.
    group: String,
    /// "Client project": started by the member.
    thread: String,
    /// "Secret": the owner and the member only.
    secret: String,
}

async fn acme(app: TestApp) -> Acme {
    let owner = app.new_account("owner@acme.test", "Olive").await;
    let manager = app.new_account("manager@acme.test", "Max").await;
    let member = app.new_account("member@acme.test", "Mia").await;
    let ws = app.post("/api/v1/workspaces", Some(&owner.0), json!({"name": "Acme"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (who, role) in [(&manager, Role::Manager), (&member, Role::Member)] {
        let (w, a) = (WorkspaceId(ws.parse().unwrap()), AccountId(who.1.parse().unwrap()));
        app.services.workspaces.add_member(w, a, role).await.unwrap();
    }
    let id = |a: &common::Answer| a.body["id"].as_str().unwrap_or_else(|| panic!("{a:?}")).to_owned();
    let group = id(&app
        .post(
            &format!("/api/v1/workspaces/{ws}/groups"),
            Some(&manager.0),
            json!({"name": "Internal", "members": [member.1]}),
        )
        .await);
    let thread = id(&app
        .post(&format!("/api/v1/workspaces/{ws}/threads"), Some(&member.0), json!({"subject": "Client project"}))
        .await);
    let secret = id(&app
        .post(
            &format!("/api/v1/workspaces/{ws}/threads"),
            Some(&owner.0),
            json!({"subject": "Secret", "accounts": [member.1]}),
        )
        .await);
    Acme { app, ws, owner, manager, member, group, thread, secret }
}

impl Acme {
    async fn thread(&self, subject: &str) -> String {
        let made = self
            .app
            .post(
                &format!("/api/v1/workspaces/{}/threads", self.ws),
                Some(&self.manager.0),
                json!({"subject": subject}),
            )
            .await;
        made.body["id"].as_str().unwrap().to_owned()
    }

    async fn invite(&self, token: &str, invitations: Value) -> common::Answer {
        self.app
            .post(
                &format!("/api/v1/workspaces/{}/invitations", self.ws),
                Some(token),
                json!({"invitations": invitations}),
            )
            .await
    }
}

/// Follows an invitation link as a newcomer: preview, then sign up. Returns the session
/// token and account id.
async fn sign_up_from(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let preview = app.post("/api/v1/invitations/preview", None, json!({"token": token})).await;
    assert_eq!(preview.status, StatusCode::OK, "{preview:?}");
    assert_eq!(preview.body["account_exists"], false);
    let session = app
        .post("/api/v1/invitations/signup", None, json!({"token": token, "display_name": name, "password": PASSWORD}))
        .await;
    assert_eq!(session.status, StatusCode::OK, "{session:?}");
    (session.body["token"].as_str().unwrap().to_owned(), session.body["account"]["id"].as_str().unwrap().to_owned())
}

fn titles(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["conversations"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

async fn guest_story_end_to_end(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let a = acme(spawn_app_with_smtp(backend, &smtp).await).await;
    let app = &a.app;
    let t = &a.thread;
    let recipients = format!("/api/v1/conversations/{t}/recipients");

    // A member adds guest@… to one thread, with a note.
    let added = app
        .post(&recipients, Some(&a.member.0), json!({"email": "Guest@Client.test", "message": "Welcome aboard!"}))
        .await;
    assert_eq!(added.status, StatusCode::ACCEPTED, "{added:?}");
    assert_eq!(added.body, json!({"status": "email_sent"}));
    let audience = app.get(&format!("/api/v1/conversations/{t}/audience"), &a.member.0).await;
    assert_eq!(audience.body["invited"][0]["email"], "guest@client.test", "a pending membership: {audience:?}");

    // The e-mail arrives over SMTP; the guest follows its link and signs up.
    let mail = app.wait_for_mail("guest@client.test", "invited you").await;
    assert!(mail.contains("Welcome aboard!") && mail.contains("Mia"), "{mail}");
    let token = link_token(&mail, "/invite#token=");
    let preview = app.post("/api/v1/invitations/preview", None, json!({"token": token})).await;
    assert_eq!(preview.body["workspace_name"], "Acme");
    assert_eq!(preview.body["role"], Value::Null, "a guest invitation");
    assert_eq!(preview.body["grants"][0]["title"], "Client project");
    let (guest, guest_id) = sign_up_from(app, &token, "Gus").await;
    let again = app
        .post("/api/v1/invitations/signup", None, json!({"token": token, "display_name": "Gus", "password": PASSWORD}))
        .await;
    assert_eq!(again.code(), "invalid_token", "single use");

    // The guest sees exactly that thread: no other group, thread or person of Acme.
    let list = app.get("/api/v1/conversations", &guest).await;
    assert_eq!(titles(&list.body), vec!["Client project"]);
    assert_eq!(list.body["workspaces"][0]["my_role"], Value::Null, "an external");
    assert_eq!(app.get("/api/v1/workspaces", &guest).await.body["workspaces"], json!([]), "a free account");
    for path in [
        format!("/api/v1/workspaces/{}/members", a.ws),
        format!("/api/v1/workspaces/{}/groups", a.ws),
        format!("/api/v1/groups/{}", a.group),
        format!("/api/v1/conversations/{}", a.secret),
        format!("/api/v1/conversations/{}/messages", a.secret),
        format!("/api/v1/people/{}", a.owner.1),
    ] {
        assert_eq!(app.get(&path, &guest).await.code(), "not_found", "{path}");
    }
    let seen = app.get(&format!("/api/v1/conversations/{t}/audience"), &guest).await;
    assert_eq!(seen.body["invited"], json!([]), "guests never see invited addresses");
    let people: Vec<(String, bool)> = seen.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["display_name"].as_str().unwrap().to_owned(), p["external"].as_bool().unwrap()))
        .collect();
    assert_eq!(people, vec![("Gus".to_owned(), true), ("Mia".to_owned(), false)], "the external badge");
    let members = app.get(&format!("/api/v1/workspaces/{}/members", a.ws), &a.member.0).await;
    assert_eq!(members.body["externals"][0]["account_id"], guest_id.as_str(), "guests in the directory");
    let audience = app.get(&format!("/api/v1/conversations/{t}/audience"), &a.member.0).await;
    assert_eq!(audience.body["invited"], json!([]), "no longer pending");

    // They chat live.
    let (mut guest_gw, ready) = app.gateway(&guest).await;
    assert_eq!(ready["conversations"].as_array().unwrap().len(), 1);
    let (mut member_gw, _) = app.gateway(&a.member.0).await;
    app.post(&format!("/api/v1/conversations/{t}/messages"), Some(&a.member.0), json!({"body": "hi Gus"})).await;
    assert_eq!(guest_gw.next_of("message_created").await["message"]["body"], "hi Gus");
    guest_gw.send(json!({"type": "send", "ref": "r1", "conversation_id": t, "body": "hello Mia"})).await;
    assert_eq!(guest_gw.next_of("ack").await["ref"], "r1");
    let seen = loop {
        let m = member_gw.next_of("message_created").await;
        if m["message"]["body"] == "hello Mia" {
            break m;
        }
    };
    assert_eq!(seen["message"]["author"]["external"], true);

    // The member removes the guest: the socket is told, and history answers like missing.
    let removed = app.delete(&format!("{recipients}/accounts/{guest_id}"), &a.member.0).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.body["action"], "participant_removed");
    let gone = guest_gw.next_of("conversation_removed").await;
    assert_eq!(gone["conversation_id"], t.as_str());
    let history = app.get(&format!("/api/v1/conversations/{t}/messages"), &guest).await;
    let missing = app.get("/api/v1/conversations/1234567/messages", &guest).await;
    assert_eq!((history.status, &history.body), (missing.status, &missing.body), "exactly like missing");
    assert_eq!(titles(&app.get("/api/v1/conversations", &guest).await.body), Vec::<String>::new());
}

async fn adding_by_email_reveals_nothing_and_existing_accounts_join_at_once(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let (known, _) = app.new_account("known@partner.test", "Kim").await;
    let (mut known_gw, _) = app.gateway(&known).await;
    let recipients = format!("/api/v1/conversations/{}/recipients", a.thread);

    let to_known = app.post(&recipients, Some(&a.member.0), json!({"email": "known@partner.test"})).await;
    let to_unknown = app.post(&recipients, Some(&a.member.0), json!({"email": "unknown@partner.test"})).await;
    assert_eq!((to_known.status, &to_known.body), (to_unknown.status, &to_unknown.body), "the same answer");

    // The account is in at once, told live and by e-mail; the address without one is invited.
    let added = known_gw.next_of("conversation_added").await;
    assert_eq!(added["conversation"]["id"], a.thread.as_str());
    let mail = app.wait_for_mail("known@partner.test", "added you to \"Client project\"").await;
    assert!(mail.contains(&format!("/#/c/{}", a.thread)), "{mail}");
    app.wait_for_mail("unknown@partner.test", "invited you").await;

    // Adding again changes nothing and sends nothing.
    let again = app.post(&recipients, Some(&a.member.0), json!({"email": "known@partner.test"})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let pending = app.post(&recipients, Some(&a.member.0), json!({"email": "unknown@partner.test"})).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED);
    // (Mail goes out in order: once this one is out, those before it are too.)
    app.new_account("probe@acme.test", "Probe").await;
    assert_eq!(app.mail_count_to("known@partner.test", "added you"), 1);
    assert_eq!(app.mail_count_to("unknown@partner.test", "invited you"), 1);

    // Workspace invitations always wait for acceptance: the same answer either way.
    let i1 = a.invite(&a.manager.0, json!([{"email": "known@partner.test", "role": "member"}])).await;
    let i2 = a.invite(&a.manager.0, json!([{"email": "nobody@partner.test", "role": "member"}])).await;
    assert_eq!((i1.status, i2.status), (StatusCode::CREATED, StatusCode::CREATED));
    let shape = |v: &Value| (v["invitations"][0]["state"].clone(), v["invitations"][0]["accepted_by"].clone());
    assert_eq!(shape(&i1.body), shape(&i2.body));

    // Bad input: a malformed address, both fields, a guest, an unknown field.
    let bad = app.post(&recipients, Some(&a.member.0), json!({"email": "not an address"})).await;
    assert_eq!(bad.code(), "validation_failed");
    let both = app.post(&recipients, Some(&a.member.0), json!({"email": "x@y.test", "account_id": a.owner.1})).await;
    assert_eq!(both.code(), "validation_failed");
    let unknown = app.post(&recipients, Some(&a.member.0), json!({"email": "x@y.test", "cc": "z@y.test"})).await;
    assert_eq!(unknown.code(), "invalid_request");
}

async fn client_invitation_story(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let a = acme(spawn_app_with_smtp(backend, &smtp).await).await;
    let app = &a.app;
    let client_group = app
        .post(&format!("/api/v1/workspaces/{}/groups", a.ws), Some(&a.manager.0), json!({"name": "Client group"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q1 = a.thread("Q1 report").await;
    let roadmap = a.thread("Roadmap").await;
    let seats = app.get(&format!("/api/v1/workspaces/{}", a.ws), &a.owner.0).await.body["seats_used"].clone();

    // A manager batch-invites three Lite clients with conversation access.
    let invited = a
        .invite(
            &a.manager.0,
            json!([
                {"email": "c1@client.test", "role": "lite", "groups": [client_group], "threads": [q1], "message": "Hi C1"},
                {"email": "c2@client.test", "role": "lite", "groups": [client_group]},
                {"email": "c3@client.test", "role": "lite", "threads": [q1, roadmap]},
            ]),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{invited:?}");
    let ids: Vec<String> =
        invited.body["invitations"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3);

    // Pending invitations show in the user list as invited users, for those who invite.
    let members = app.get(&format!("/api/v1/workspaces/{}/members", a.ws), &a.manager.0).await;
    let mut emails: Vec<&str> =
        members.body["invited"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect();
    emails.sort();
    assert_eq!(emails, ["c1@client.test", "c2@client.test", "c3@client.test"]);
    assert!(members.body["invited"].as_array().unwrap().iter().all(|i| i["role"] == "lite" && i["state"] == "pending"));
    let as_member = app.get(&format!("/api/v1/workspaces/{}/members", a.ws), &a.member.0).await;
    assert_eq!(as_member.body["invited"], json!([]), "members do not see invitations");

    // A member may not invite; a lite invitation needs a conversation; six are refused.
    let refused = a.invite(&a.member.0, json!([{"email": "c9@client.test", "role": "lite", "threads": [q1]}])).await;
    assert_eq!(refused.code(), "forbidden");
    let bare = a.invite(&a.manager.0, json!([{"email": "c9@client.test", "role": "lite"}])).await;
    assert_eq!(bare.code(), "validation_failed");
    let mut six = Vec::new();
    for n in 0..6 {
        six.push(a.thread(&format!("Extra {n}")).await);
    }
    let too_many = a.invite(&a.manager.0, json!([{"email": "c9@client.test", "role": "lite", "threads": six}])).await;
    assert_eq!(too_many.code(), "lite_limit_reached");
    let above = a.invite(&a.manager.0, json!([{"email": "c9@client.test", "role": "admin"}])).await;
    assert_eq!(above.code(), "forbidden", "never above one's own role");

    // Resend: a new link, and the old one stops working.
    let first = link_token(&app.wait_for_mail("c2@client.test", "invited you").await, "/invite#token=");
    let resent = app.post(&format!("/api/v1/invitations/{}/resend", ids[1]), Some(&a.manager.0), json!({})).await;
    assert_eq!(resent.status, StatusCode::OK, "{resent:?}");
    let second = link_token(&app.wait_for_mail("c2@client.test", "invited you").await, "/invite#token=");
    assert_ne!(first, second);
    let old = app.post("/api/v1/invitations/preview", None, json!({"token": first})).await;
    assert_eq!(old.code(), "invalid_token");

    // Expiry: the link stops working and the invitation shows as expired; a resend revives it.
    let c3_link = link_token(&app.wait_for_mail("c3@client.test", "invited you").await, "/invite#token=");
    app.sql(&format!("UPDATE invitations SET expires_at = 1 WHERE id = {}", ids[2])).await;
    let expired = app.post("/api/v1/invitations/preview", None, json!({"token": c3_link})).await;
    assert_eq!(expired.code(), "invalid_token");
    let listed = app.get(&format!("/api/v1/workspaces/{}/invitations", a.ws), &a.manager.0).await;
    let c3 = listed.body["invitations"].as_array().unwrap().iter().find(|i| i["email"] == "c3@client.test").unwrap();
    assert_eq!(c3["state"], "expired");
    app.post(&format!("/api/v1/invitations/{}/resend", ids[2]), Some(&a.manager.0), json!({})).await;
    let revived = link_token(&app.wait_for_mail("c3@client.test", "invited you").await, "/invite#token=");
    assert_eq!(app.post("/api/v1/invitations/preview", None, json!({"token": revived})).await.status, StatusCode::OK);

    // C1 signs up: a lite member who reads what was granted and never writes, on no seat.
    let c1_mail = app.wait_for_mail("c1@client.test", "invited you").await;
    assert!(c1_mail.contains("Lite") && c1_mail.contains("Hi C1") && c1_mail.contains("Q1 report"), "{c1_mail}");
    let (c1, c1_id) = sign_up_from(app, &link_token(&c1_mail, "/invite#token="), "Cleo").await;
    assert_eq!(titles(&app.get("/api/v1/conversations", &c1).await.body), vec!["Client group", "Q1 report"]);
    let post = app.post(&format!("/api/v1/conversations/{q1}/messages"), Some(&c1), json!({"body": "hi"})).await;
    assert_eq!(post.code(), "read_only");
    let workspace = app.get(&format!("/api/v1/workspaces/{}", a.ws), &a.owner.0).await;
    assert_eq!(workspace.body["seats_used"], seats, "lite users take no seat");
    assert_eq!(workspace.body["lite_grant_limit"], 5);
    let members = app.get(&format!("/api/v1/workspaces/{}/members", a.ws), &a.manager.0).await;
    let cleo = members.body["members"].as_array().unwrap().iter().find(|m| m["account_id"] == c1_id.as_str()).unwrap();
    assert_eq!((cleo["role"].clone(), cleo["grants"].clone()), (json!("lite"), json!(2)));

    // The sixth grant is refused, whichever way it comes.
    for extra in &six[..3] {
        let add = app
            .post(
                &format!("/api/v1/conversations/{extra}/recipients"),
                Some(&a.manager.0),
                json!({"account_id": c1_id}),
            )
            .await;
        assert_eq!(add.status, StatusCode::NO_CONTENT, "{add:?}");
    }
    let sixth = app
        .post(&format!("/api/v1/conversations/{}/recipients", six[3]), Some(&a.manager.0), json!({"account_id": c1_id}))
        .await;
    assert_eq!(sixth.code(), "lite_limit_reached");
    let into_group = app
        .post(&format!("/api/v1/groups/{}/members", a.group), Some(&a.manager.0), json!({"account_id": c1_id}))
        .await;
    assert_eq!(into_group.code(), "lite_limit_reached");
    let new_thread = app
        .post(
            &format!("/api/v1/workspaces/{}/threads", a.ws),
            Some(&a.manager.0),
            json!({"subject": "Six", "accounts": [c1_id]}),
        )
        .await;
    assert_eq!(new_thread.code(), "lite_limit_reached");
    assert_eq!(titles(&app.get("/api/v1/conversations", &c1).await.body).len(), 5, "nothing changed");

    // A role change that would pass the limit is refused too: the manager holds more than five.
    let demote = app
        .call(
            Method::PATCH,
            &format!("/api/v1/workspaces/{}/members/{}", a.ws, a.manager.1),
            Some(&a.owner.0),
            Some(json!({"role": "lite"})),
        )
        .await;
    assert_eq!(demote.code(), "lite_limit_reached");

    // Revoking an invitation kills its link.
    let revoked = app.delete(&format!("/api/v1/invitations/{}", ids[1]), &a.manager.0).await;
    assert_eq!(revoked.body["action"], "invitation_revoked");
    assert_eq!(app.post("/api/v1/invitations/preview", None, json!({"token": second})).await.code(), "invalid_token");
}

async fn smtp_down_story(backend: Backend) {
    let mut smtp = SmtpServer::start().await;
    let a = acme(spawn_app_with_smtp(backend, &smtp).await).await;
    let app = &a.app;
    smtp.stop();
    let invited = a.invite(&a.manager.0, json!([{"email": "late@client.test", "role": "member"}])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "inviting does not wait for the mail server");
    app.wait_for_sql(
        "SELECT COUNT(*) FROM outbox WHERE recipient = 'late@client.test' AND attempts >= 1 AND last_error IS NOT NULL \
         AND sent_at IS NULL",
        "a failed delivery attempt",
    )
    .await;
    smtp.restart().await;
    let mail = app.wait_for_mail("late@client.test", "invited you").await;
    assert!(mail.contains("/invite#token="));
    app.wait_for_sql(
        "SELECT COUNT(*) FROM outbox WHERE recipient = 'late@client.test' AND sent_at IS NOT NULL",
        "the delivery being recorded",
    )
    .await;
    assert_eq!(app.mail_count_to("late@client.test", "invited you"), 1, "it arrives once");
}

async fn parallel_acceptances_one_wins(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    a.invite(&a.manager.0, json!([{"email": "race@client.test", "role": "member"}])).await;
    let token = link_token(&app.wait_for_mail("race@client.test", "invited you").await, "/invite#token=");
    let attempts = (0..10).map(|n| {
        let (client, base, token) = (app.client.clone(), app.base.clone(), token.clone());
        tokio::spawn(async move {
            let body = json!({"token": token, "display_name": format!("Racer {n}"), "password": PASSWORD});
            let r = client.post(format!("{base}/api/v1/invitations/signup")).json(&body).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        })
    });
    let mut won = 0;
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        if status == StatusCode::OK {
            won += 1;
        } else {
            assert_eq!(body["error"]["code"], "invalid_token", "{body}");
        }
    }
    assert_eq!(won, 1, "exactly one acceptance wins");
    let members = app.get(&format!("/api/v1/workspaces/{}/members", a.ws), &a.owner.0).await;
    let joined =
        members.body["members"].as_array().unwrap().iter().filter(|m| m["email"] == "race@client.test").count();
    assert_eq!(joined, 1);
}

async fn tokens_are_bound_to_their_address_and_die_once_used(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let (eve, _) = app.new_account("eve@else.test", "Eve").await;
    let (bob, _) = app.new_account("bob@client.test", "Bob").await;
    a.invite(&a.manager.0, json!([{"email": "bob@client.test", "role": "member", "threads": []}])).await;
    let token = link_token(&app.wait_for_mail("bob@client.test", "invited you").await, "/invite#token=");
    let preview = app.post("/api/v1/invitations/preview", None, json!({"token": token})).await;
    assert_eq!(preview.body["account_exists"], true, "the link's holder is told to log in");
    let signup = app
        .post("/api/v1/invitations/signup", None, json!({"token": token, "display_name": "B", "password": PASSWORD}))
        .await;
    assert_eq!(signup.code(), "account_exists");

    // Another account cannot use Bob's link; every dead token answers alike.
    let stolen = app.post("/api/v1/invitations/accept", Some(&eve), json!({"token": token})).await;
    assert_eq!(stolen.code(), "invalid_token");
    let mine = app.get("/api/v1/invitations", &bob).await;
    assert_eq!(mine.body["invitations"][0]["email"], "bob@client.test", "Bob sees his invitation");
    assert_eq!(app.get("/api/v1/invitations", &eve).await.body["invitations"], json!([]));
    let accepted = app.post("/api/v1/invitations/accept", Some(&bob), json!({"token": token})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{accepted:?}");
    assert_eq!(accepted.body["role"], "member");
    let used = app.post("/api/v1/invitations/accept", Some(&bob), json!({"token": token})).await;
    let unknown = app.post("/api/v1/invitations/accept", Some(&bob), json!({"token": "A".repeat(43)})).await;
    let garbage = app.post("/api/v1/invitations/preview", None, json!({"token": "x"})).await;
    assert_eq!((used.status, &used.body), (unknown.status, &unknown.body), "used and unknown answer alike");
    assert_eq!(garbage.code(), "invalid_token");
    // Unknown fields and malformed bodies change nothing.
    let extra = app.post("/api/v1/invitations/preview", None, json!({"token": token, "x": 1})).await;
    assert_eq!(extra.code(), "invalid_request");
    let junk = app.call_raw(Method::POST, "/api/v1/invitations/accept", Some("application/json"), b"{".to_vec()).await;
    assert_eq!(junk.status, StatusCode::UNAUTHORIZED, "authentication comes first");
}

async fn seats_are_checked_when_an_invitation_is_accepted(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    a.invite(&a.owner.0, json!([{"email": "late@client.test", "role": "member"}])).await;
    let token = link_token(&app.wait_for_mail("late@client.test", "invited you").await, "/invite#token=");
    // The seats fill up between the invitation and its acceptance.
    let full = app.patch(&format!("/api/v1/workspaces/{}", a.ws), &a.owner.0, json!({"seat_limit": 3})).await;
    assert_eq!(full.status, StatusCode::OK, "{full:?}");
    let body = json!({"token": token, "display_name": "Late", "password": PASSWORD});
    let refused = app.post("/api/v1/invitations/signup", None, body.clone()).await;
    assert_eq!(refused.code(), "seat_limit_reached");
    let login = app.post("/api/v1/auth/login", None, json!({"email": "late@client.test", "password": PASSWORD})).await;
    assert_eq!(login.code(), "invalid_credentials", "nothing was created");
    app.patch(&format!("/api/v1/workspaces/{}", a.ws), &a.owner.0, json!({"seat_limit": 4})).await;
    assert_eq!(app.post("/api/v1/invitations/signup", None, body).await.status, StatusCode::OK, "still pending");
}

async fn replace_hands_a_leavers_access_to_a_successor(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let client_group = app
        .post(&format!("/api/v1/workspaces/{}/groups", a.ws), Some(&a.manager.0), json!({"name": "Client group"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let brief = a.thread("Brief").await;
    app.post(
        &format!("/api/v1/conversations/{brief}/recipients"),
        Some(&a.manager.0),
        json!({"group_id": client_group}),
    )
    .await;
    let direct = a.thread("Direct line").await;
    a.invite(
        &a.manager.0,
        json!([{"email": "old@client.test", "role": "lite", "groups": [client_group], "threads": [direct]}]),
    )
    .await;
    let (old, old_id) = sign_up_from(
        app,
        &link_token(&app.wait_for_mail("old@client.test", "invited you").await, "/invite#token="),
        "Old",
    )
    .await;
    assert_eq!(
        titles(&app.get("/api/v1/conversations", &old).await.body),
        vec!["Brief", "Client group", "Direct line"]
    );
    let (mut old_gw, _) = app.gateway(&old).await;

    // The successor has no account yet: the leaver's access goes, an invitation carries it.
    let replaced = app
        .post(
            &format!("/api/v1/workspaces/{}/replace", a.ws),
            Some(&a.manager.0),
            json!({"leaver": old_id, "successor_email": "new@client.test"}),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
    assert_eq!((replaced.body["groups"].clone(), replaced.body["threads"].clone()), (json!(1), json!(1)));
    assert_eq!(replaced.body["receipt"]["action"], "access_replaced");
    let mut gone = Vec::new();
    while gone.len() < 3 {
        gone.push(old_gw.next_of("conversation_removed").await["conversation_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(titles(&app.get("/api/v1/conversations", &old).await.body), Vec::<String>::new());
    let mail = app.wait_for_mail("new@client.test", "invited you").await;
    assert!(mail.contains("Client group") && mail.contains("Direct line") && mail.contains("Lite"), "{mail}");
    let (new, _) = sign_up_from(app, &link_token(&mail, "/invite#token="), "New").await;
    assert_eq!(
        titles(&app.get("/api/v1/conversations", &new).await.body),
        vec!["Brief", "Client group", "Direct line"]
    );

    // Only those who manage the workspace hand access over.
    let by_member = app
        .post(
            &format!("/api/v1/workspaces/{}/replace", a.ws),
            Some(&a.member.0),
            json!({"leaver": a.owner.1, "successor_account_id": a.manager.1}),
        )
        .await;
    assert_eq!(by_member.code(), "forbidden");
}

async fn the_audit_log_records_who_did_what(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let audit = format!("/api/v1/workspaces/{}/audit", a.ws);
    a.invite(&a.manager.0, json!([{"email": "aud@client.test", "role": "member"}])).await;
    let (aud, aud_id) = sign_up_from(
        app,
        &link_token(&app.wait_for_mail("aud@client.test", "invited you").await, "/invite#token="),
        "Aud",
    )
    .await;
    app.call(
        Method::PATCH,
        &format!("/api/v1/workspaces/{}/members/{aud_id}", a.ws),
        Some(&a.owner.0),
        Some(json!({"role": "lite"})),
    )
    .await;
    let removed = app.delete(&format!("/api/v1/workspaces/{}/members/{aud_id}", a.ws), &a.owner.0).await;
    assert_eq!(removed.status, StatusCode::OK);

    let log = app.get(&audit, &a.owner.0).await;
    assert_eq!(log.status, StatusCode::OK, "{log:?}");
    let entries = log.body["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        &actions[..4],
        ["member_removed", "role_changed", "invitation_accepted", "invitation_sent"],
        "{actions:?}"
    );
    assert_eq!(entries[0], removed.body, "the removal's receipt is its entry");
    assert_eq!(entries[0]["actor"]["name"], "Olive");
    assert_eq!(entries[1]["detail"], json!({"from": "member", "to": "lite"}));
    assert_eq!(entries[3]["email"], "aud@client.test");
    assert_eq!(entries[3]["actor"]["name"], "Max");
    // Paging: `before` the newest entry starts with the next one.
    let page = app.get(&format!("{audit}?limit=1&before={}", entries[0]["id"].as_str().unwrap()), &a.owner.0).await;
    assert_eq!(page.body["entries"][0]["id"], entries[1]["id"]);
    assert_eq!(page.body["has_more"], true);
    // Owners and admins only.
    assert_eq!(app.get(&audit, &a.manager.0).await.code(), "forbidden");
    assert_eq!(app.get(&audit, &aud).await.code(), "not_found", "a former member");
}

async fn csv_upload_invites_a_batch(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let path = format!("/api/v1/workspaces/{}/invitations/csv", a.ws);
    a.thread("Kickoff").await;
    let csv = |text: &str| {
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&a.manager.0)
            .header("content-type", "text/csv")
            .body(text.to_owned())
            .send()
    };
    let good = "email,role,groups,threads,message\n\
                one@client.test,lite,Internal,Kickoff,\"Hello, One\"\n\
                two@client.test,member,,,\n";
    let answer = csv(good).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.unwrap();
    let one = &body["invitations"].as_array().unwrap().iter().find(|i| i["email"] == "one@client.test").unwrap();
    assert_eq!(one["grants"].as_array().unwrap().len(), 2);
    assert_eq!(one["message"], "Hello, One");
    app.wait_for_mail("two@client.test", "invited you").await;

    // A bad line refuses the whole file, naming the line.
    let bad = csv("three@client.test,lite,No such group,,\nfour@client.test,member,,,\n").await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = bad.json().await.unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("line 1"), "{error}");
    let listed = app.get(&format!("/api/v1/workspaces/{}/invitations", a.ws), &a.manager.0).await;
    assert_eq!(listed.body["invitations"].as_array().unwrap().len(), 2, "nothing of the bad file was kept");
    let wrong_type = app.post(&path, Some(&a.manager.0), json!({"email": "x@y.test"})).await;
    assert_eq!(wrong_type.code(), "unsupported_media_type");
}

async fn free_accounts_only_message(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let t = &a.thread;
    app.post(&format!("/api/v1/conversations/{t}/recipients"), Some(&a.member.0), json!({"email": "free@client.test"}))
        .await;
    let (free, _) = sign_up_from(
        app,
        &link_token(&app.wait_for_mail("free@client.test", "invited you").await, "/invite#token="),
        "Fay",
    )
    .await;
    // Reads, posts, reacts, edits its own messages, messages its contacts.
    let posted = app.post(&format!("/api/v1/conversations/{t}/messages"), Some(&free), json!({"body": "hi"})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let seq = posted.body["seq"].as_i64().unwrap();
    let edited = app.patch(&format!("/api/v1/conversations/{t}/messages/{seq}"), &free, json!({"body": "hello"})).await;
    assert_eq!(edited.status, StatusCode::OK);
    let reacted = app
        .call(Method::PUT, &format!("/api/v1/conversations/{t}/messages/{seq}/reactions/ok"), Some(&free), None)
        .await;
    assert_eq!(reacted.status, StatusCode::NO_CONTENT);
    let direct =
        app.post(&format!("/api/v1/workspaces/{}/direct", a.ws), Some(&free), json!({"account_id": a.member.1})).await;
    assert_eq!(direct.status, StatusCode::OK, "{direct:?}");
    // Never creates groups or threads in the workspace, nor brings anyone in.
    let group = app.post(&format!("/api/v1/workspaces/{}/groups", a.ws), Some(&free), json!({"name": "Mine"})).await;
    assert_eq!(group.code(), "not_found");
    let invite = a.invite(&free, json!([{"email": "x@client.test", "role": "member"}])).await;
    assert_eq!(invite.code(), "not_found");
    let bring = app
        .post(&format!("/api/v1/conversations/{t}/recipients"), Some(&free), json!({"email": "x@client.test"}))
        .await;
    assert_eq!(bring.code(), "forbidden");
    let direct_owner =
        app.post(&format!("/api/v1/workspaces/{}/direct", a.ws), Some(&free), json!({"account_id": a.owner.1})).await;
    assert_eq!(direct_owner.code(), "not_found", "not a contact");
}

async fn the_same_address_invited_twice_signs_up_once(backend: Backend) {
    let a = acme(spawn_app(backend).await).await;
    let app = &a.app;
    let second = a.thread("Second project").await;
    for (t, who) in [(&a.thread, &a.member.0), (&second, &a.manager.0)] {
        let added = app
            .post(&format!("/api/v1/conversations/{t}/recipients"), Some(who), json!({"email": "twice@client.test"}))
            .await;
        assert_eq!(added.status, StatusCode::ACCEPTED);
    }
    let group = app
        .post(&format!("/api/v1/groups/{}/members", a.group), Some(&a.manager.0), json!({"email": "twice@client.test"}))
        .await;
    assert_eq!(group.status, StatusCode::ACCEPTED, "{group:?}");
    let members = app.get(&format!("/api/v1/groups/{}/members", a.group), &a.manager.0).await;
    assert_eq!(members.body["invited"][0]["email"], "twice@client.test");
    let first = app.wait_for_mail("twice@client.test", "invited you").await;
    // Signing up from any one link (here: the plain sign-up, verified) activates them all.
    let (token, _) = {
        let _ = first;
        app.new_account("twice@client.test", "Tess").await
    };
    assert_eq!(
        titles(&app.get("/api/v1/conversations", &token).await.body),
        vec!["Client project", "Internal", "Second project"]
    );
}

async fn invitations_are_rate_limited(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.invitations.per_address_per_hour = 2;
        c.invitations.per_inviter_per_hour = 4;
    })
    .await;
    let a = acme(app).await;
    let app = &a.app;
    let recipients = format!("/api/v1/conversations/{}/recipients", a.thread);
    for _ in 0..2 {
        let sent = app.post(&recipients, Some(&a.member.0), json!({"email": "spam@target.test"})).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED);
    }
    let third = app.post(&recipients, Some(&a.member.0), json!({"email": "spam@target.test"})).await;
    assert_eq!(third.code(), "rate_limited", "per address");
    assert!(third.retry_after.is_some());
    let batch = a
        .invite(
            &a.manager.0,
            json!([{"email": "a@t.test", "role": "member"}, {"email": "b@t.test", "role": "member"},
            {"email": "c@t.test", "role": "member"}, {"email": "d@t.test", "role": "member"},
            {"email": "e@t.test", "role": "member"}]),
        )
        .await;
    assert_eq!(batch.code(), "rate_limited", "per inviter, the batch counted whole");
    let listed = app.get(&format!("/api/v1/workspaces/{}/invitations", a.ws), &a.manager.0).await;
    let kept = listed.body["invitations"].as_array().unwrap().iter().filter(|i| i["email"] == "a@t.test").count();
    assert_eq!(kept, 0, "nothing of a refused batch is kept");
}
