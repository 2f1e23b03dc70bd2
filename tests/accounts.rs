//! Accounts and sessions through the HTTP API, on both backends: sign-up with e-mail
//! verification, log-in and log-out, password change and reset, no account enumeration,
//! rate limits, tokens stored only as hashes.

mod common;

use common::{PASSWORD, TestApp, link_token, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use salon::config::Backend;
use serde_json::json;

on_both_backends!(
    signup_verify_login_and_logout,
    verification_links_work_once,
    signup_for_a_taken_address_answers_the_same_and_changes_nothing,
    failed_logins_answer_the_same_for_unknown_and_wrong_password,
    unverified_address_cannot_log_in,
    logout_everywhere_ends_every_session,
    change_password_keeps_this_session_and_ends_the_others,
    password_reset_answers_the_same_and_ends_every_session,
    logins_are_rate_limited_per_account,
    attempts_are_rate_limited_per_address,
    profile_can_be_renamed,
    bad_tokens_are_unauthenticated,
);

async fn login(app: &TestApp, email: &str, password: &str) -> common::Answer {
    app.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await
}

async fn signup_verify_login_and_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (first, id) = app.new_account("Ann@Example.com", "Ann").await;

    let me = app.get("/api/v1/me", &first).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], id);
    assert_eq!(me.body["email"], "ann@example.com", "addresses are normalised");
    assert_eq!(me.body["display_name"], "Ann");

    let second = login(&app, "ANN@example.com", PASSWORD).await;
    assert_eq!(second.status, StatusCode::OK, "{second:?}");
    let second = second.body["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);

    let out = app.call(Method::POST, "/api/v1/auth/logout", Some(&first), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &first).await.code(), "unauthenticated");
    assert_eq!(app.get("/api/v1/me", &second).await.status, StatusCode::OK, "other sessions live on");
}

async fn verification_links_work_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let signup = json!({"email": "bo@example.com", "password": PASSWORD, "display_name": "Bo"});
    assert_eq!(app.post("/api/v1/auth/signup", None, signup).await.status, StatusCode::ACCEPTED);
    let mail = app.wait_for_mail("bo@example.com", "Confirm").await;
    let token = link_token(&mail, "/verify#token=");
    assert_eq!(token.len(), 43, "256 random bits");

    let first = app.post("/api/v1/auth/verify", None, json!({"token": token})).await;
    assert_eq!(first.status, StatusCode::OK);
    let again = app.post("/api/v1/auth/verify", None, json!({"token": token})).await;
    let unknown = app.post("/api/v1/auth/verify", None, json!({"token": "x".repeat(43)})).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.code(), "invalid_token");
    assert_eq!(again, unknown, "a used token answers exactly like one that never existed");
}

async fn signup_for_a_taken_address_answers_the_same_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.new_account("cy@example.com", "Cy").await;

    let fresh = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "new@example.com", "password": "another password", "display_name": "N"}),
        )
        .await;
    let taken = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "cy@example.com", "password": "another password", "display_name": "Impostor"}),
        )
        .await;
    assert_eq!(fresh, taken, "the answer does not reveal that the address has an account");

    let notice = app.wait_for_mail("cy@example.com", "already have").await;
    assert!(notice.contains("/reset-password"), "{notice}");
    assert_eq!(login(&app, "cy@example.com", "another password").await.code(), "invalid_credentials");
    assert_eq!(login(&app, "cy@example.com", PASSWORD).await.status, StatusCode::OK, "the owner's password stands");
}

async fn failed_logins_answer_the_same_for_unknown_and_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.new_account("di@example.com", "Di").await;
    let wrong = login(&app, "di@example.com", "not the password").await;
    let unknown = login(&app, "nobody@example.com", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(wrong, unknown);
}

async fn unverified_address_cannot_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let signup = json!({"email": "ed@example.com", "password": PASSWORD, "display_name": "Ed"});
    app.post("/api/v1/auth/signup", None, signup).await;
    let before = login(&app, "ed@example.com", PASSWORD).await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(before, unknown, "an unverified sign-up looks like no account at all");
}

async fn logout_everywhere_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, _) = app.new_account("fa@example.com", "Fa").await;
    let b = login(&app, "fa@example.com", PASSWORD).await.body["token"].as_str().unwrap().to_owned();
    let out = app.call(Method::POST, "/api/v1/auth/logout-all", Some(&b), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &a).await.code(), "unauthenticated");
    assert_eq!(app.get("/api/v1/me", &b).await.code(), "unauthenticated");
}

async fn change_password_keeps_this_session_and_ends_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, _) = app.new_account("gu@example.com", "Gu").await;
    let b = login(&app, "gu@example.com", PASSWORD).await.body["token"].as_str().unwrap().to_owned();

    let wrong = app
        .post(
            "/api/v1/auth/password",
            Some(&a),
            json!({"current_password": "wrong one!", "new_password": "new password 1"}),
        )
        .await;
    assert_eq!(wrong.code(), "invalid_credentials");
    let short = app
        .post("/api/v1/auth/password", Some(&a), json!({"current_password": PASSWORD, "new_password": "short"}))
        .await;
    assert_eq!(short.code(), "validation_failed");
    assert_eq!(short.body["error"]["field"], "new_password");
    assert_eq!(app.get("/api/v1/me", &b).await.status, StatusCode::OK, "refused changes change nothing");

    let ok = app
        .post(
            "/api/v1/auth/password",
            Some(&a),
            json!({"current_password": PASSWORD, "new_password": "new password 1"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{ok:?}");
    assert_eq!(app.get("/api/v1/me", &a).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", &b).await.code(), "unauthenticated");
    assert_eq!(login(&app, "gu@example.com", PASSWORD).await.code(), "invalid_credentials");
    assert_eq!(login(&app, "gu@example.com", "new password 1").await.status, StatusCode::OK);
}

async fn password_reset_answers_the_same_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (session, _) = app.new_account("hu@example.com", "Hu").await;

    let known = app.post("/api/v1/auth/password-reset", None, json!({"email": "hu@example.com"})).await;
    let unknown = app.post("/api/v1/auth/password-reset", None, json!({"email": "nobody@example.com"})).await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(known, unknown);

    let mail = app.wait_for_mail("hu@example.com", "Reset").await;
    let token = link_token(&mail, "/reset-password#token=");
    let confirm = json!({"token": token, "new_password": "brand new password"});
    let done = app.post("/api/v1/auth/password-reset/confirm", None, confirm.clone()).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{done:?}");
    assert_eq!(app.get("/api/v1/me", &session).await.code(), "unauthenticated");
    assert_eq!(login(&app, "hu@example.com", "brand new password").await.status, StatusCode::OK);

    let reused = app.post("/api/v1/auth/password-reset/confirm", None, confirm).await;
    assert_eq!(reused.code(), "invalid_token");
    assert_eq!(app.mail_count(), 0, "nothing was mailed for the unknown address");
}

async fn logins_are_rate_limited_per_account(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.auth.login_attempts_per_account = 3).await;
    app.new_account("io@example.com", "Io").await;
    app.new_account("ja@example.com", "Ja").await;
    for _ in 0..3 {
        assert_eq!(login(&app, "io@example.com", "wrong password").await.code(), "invalid_credentials");
    }
    let limited = login(&app, "io@example.com", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    for _ in 0..3 {
        login(&app, "nobody@example.com", "wrong password").await;
    }
    assert_eq!(
        login(&app, "nobody@example.com", "wrong password").await.code(),
        "rate_limited",
        "unknown addresses are limited the same way"
    );
    assert_eq!(login(&app, "ja@example.com", PASSWORD).await.status, StatusCode::OK, "other accounts are unaffected");
}

async fn attempts_are_rate_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.auth.attempts_per_address = 4).await;
    for i in 0..4 {
        let answer = login(&app, &format!("user{i}@example.com"), "wrong password").await;
        assert_eq!(answer.code(), "invalid_credentials");
    }
    let limited = login(&app, "user9@example.com", "wrong password").await;
    assert_eq!(limited.code(), "rate_limited");
    let signup = json!({"email": "x@example.com", "password": PASSWORD, "display_name": "X"});
    assert_eq!(app.post("/api/v1/auth/signup", None, signup).await.code(), "rate_limited");
}

async fn profile_can_be_renamed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = app.new_account("ka@example.com", "Ka").await;
    let renamed = app.patch("/api/v1/me", &token, json!({"display_name": "  Ka Lee "})).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(renamed.body["display_name"], "Ka Lee");
    assert_eq!(app.get("/api/v1/me", &token).await.body["display_name"], "Ka Lee");
    let bad = app.patch("/api/v1/me", &token, json!({"display_name": "a\u{7}b"})).await;
    assert_eq!(bad.code(), "validation_failed");
    assert_eq!(app.get("/api/v1/me", &token).await.body["display_name"], "Ka Lee");
}

async fn bad_tokens_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let none = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.code(), "unauthenticated");
    for token in ["", "short", &"x".repeat(43), &"é".repeat(43), &"x".repeat(5000)] {
        let answer = app.get("/api/v1/me", token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(answer.body, none.body);
    }
}

/// The database holds token digests only: the raw session token appears nowhere in it, and
/// a delivered e-mail's body (which carried the one-time link) is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_stored_only_as_hashes() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Sqlite).await;
    let signup = json!({"email": "lu@example.com", "password": PASSWORD, "display_name": "Lu"});
    app.post("/api/v1/auth/signup", None, signup).await;
    let mail = app.wait_for_mail("lu@example.com", "Confirm").await;
    let verification = link_token(&mail, "/verify#token=");
    let session = app.post("/api/v1/auth/verify", None, json!({"token": verification})).await;
    let session = session.body["token"].as_str().unwrap().to_owned();

    let url = app.config.database.url.expose().clone();
    let path = url.trim_start_matches("sqlite://").to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(!haystack.contains(&session), "a raw session token is stored");
    assert!(!haystack.contains(PASSWORD), "a raw password is stored");

    // The worker records the delivery just after writing the file: wait for that.
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL")
            .fetch_one(&mut db)
            .await
            .unwrap();
        if sent == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the delivery was never recorded");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE body <> ''").fetch_one(&mut db).await.unwrap();
    assert_eq!(kept, 0, "delivered mail bodies are forgotten");
}
