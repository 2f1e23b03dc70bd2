//! The HTTP surface as a whole: bad input, unknown routes, the OpenAPI document against
//! the real router, health, readiness and graceful shutdown.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{PASSWORD, spawn_app, spawn_app_with, test_config};
use reqwest::{Method, StatusCode};
use salon::config::Backend;
use serde_json::{Value, json};

on_both_backends!(bad_bodies_get_typed_errors_and_change_nothing, no_input_makes_the_server_fail, health_and_readiness);

async fn bad_bodies_get_typed_errors_and_change_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.http.max_body_bytes = 4096).await;
    let signup = "/api/v1/auth/signup";
    let json_ct = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
        (json_ct, b"{\"email\": ".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        (json_ct, b"not json at all".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            json_ct,
            br#"{"email": 5, "password": "xxxxxxxxx", "display_name": "A"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json_ct,
            br#"{"email": "a@example.com", "password": "xxxxxxxxx"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json_ct,
            br#"{"email": "a@example.com", "password": "xxxxxxxxx", "display_name": "A", "admin": true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (json_ct, b"[]".to_vec(), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            None,
            br#"{"email": "a@example.com", "password": "xxxxxxxxx", "display_name": "A"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some("text/plain"),
            br#"{"email": "a@example.com", "password": "xxxxxxxxx", "display_name": "A"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            json_ct,
            format!(r#"{{"email": "a@example.com", "password": "{}", "display_name": "A"}}"#, "x".repeat(5000))
                .into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            json_ct,
            br#"{"email": "a@example.com", "password": "short", "display_name": "A"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json_ct,
            format!(r#"{{"email": "a@example.com", "password": "{}", "display_name": "A"}}"#, "x".repeat(1025))
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json_ct,
            br#"{"email": "not-an-address", "password": "xxxxxxxxx", "display_name": "A"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json_ct,
            br#"{"email": "a@example.com", "password": "xxxxxxxxx", "display_name": ""}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let answer = app.call_raw(Method::POST, signup, content_type, body.clone()).await;
        assert_eq!(answer.status, status, "{}: {answer:?}", String::from_utf8_lossy(&body[..body.len().min(80)]));
        assert_eq!(answer.code(), code);
        assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let valid = app.post("/api/v1/auth/login", None, json!({"email": "a@example.com", "password": "xxxxxxxxx"})).await;
    assert_eq!(valid.code(), "invalid_credentials");
    // Nothing above was accepted: once a valid sign-up's mail is out, it was the only one
    // (the outbox is delivered in order).
    let probe = json!({"email": "probe@example.com", "password": PASSWORD, "display_name": "P"});
    assert_eq!(app.post(signup, None, probe).await.status, StatusCode::ACCEPTED);
    app.wait_for_mail("probe@example.com", "Confirm").await;
    assert_eq!(app.mail_count(), 0);
}

async fn no_input_makes_the_server_fail(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = app.new_account("fuzz@example.com", "Fuzz").await;
    let created = app.post("/api/v1/workspaces", Some(&token), json!({"name": "W"})).await;
    let ws = created.body["id"].as_str().unwrap().to_owned();
    let doc = app.get("/api/v1/openapi.json", &token).await.body;
    let junk: Vec<&[u8]> = vec![
        b"",
        b"null",
        b"0",
        b"\"\"",
        b"{}",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        b"{\"token\": null, \"email\": {}, \"password\": [], \"name\": 1e999}",
        b"\xff\xfe\x00garbage",
        b"{\"display_name\": \"\\ud800\"}",
    ];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let path = path.replace("{workspace_id}", &ws).replace("{account_id}", "42");
        for method in ops.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for body in &junk {
                for auth in [None, Some(token.as_str())] {
                    let mut req = app.client.request(method.clone(), format!("{}{path}", app.base));
                    req = req.header("content-type", "application/json").body(body.to_vec());
                    if let Some(t) = auth {
                        req = req.bearer_auth(t);
                    }
                    let status = req.send().await.expect("the server answers").status();
                    assert!(status.as_u16() < 500, "{method} {path} with {body:?}: {status}");
                }
            }
        }
    }
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "the server is still up");
}

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((health.status, health.body), (StatusCode::OK, json!({"status": "ok"})));
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    let expected = json!({"status": "ok", "database": "ok", "bus": "embedded"});
    assert_eq!((ready.status, ready.body), (StatusCode::OK, expected));
}

/// `/readyz` reports a database that went away, and recovers nothing silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_database_is_gone() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Postgres).await;
    assert_eq!(app.call(Method::GET, "/readyz", None, None).await.status, StatusCode::OK);
    let url = app.config.database.url.expose().clone();
    let (server, name) = url.rsplit_once('/').unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body, json!({"status": "unavailable", "database": "unreachable", "bus": "embedded"}));
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK,
        "the process itself is fine"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_typed_errors() {
    let app = spawn_app(Backend::Sqlite).await;
    let route = app.call(Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_eq!(route.status, StatusCode::NOT_FOUND);
    assert_eq!(route.code(), "route_not_found");
    let method = app.call(Method::DELETE, "/api/v1/auth/login", None, None).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.code(), "method_not_allowed");
}

/// Every operation the OpenAPI document lists exists on the server; the committed
/// `protocol/openapi.json` is the document the server serves; and no route is served
/// outside the document but the HTML pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    let doc = served.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            let concrete = path.replace("{workspace_id}", "1").replace("{account_id}", "1");
            let answer = app.call(method.to_uppercase().parse().unwrap(), &concrete, None, Some(json!({}))).await;
            assert!(
                !["route_not_found", "method_not_allowed"].contains(&answer.code()),
                "{method} {path} is documented but not served: {answer:?}"
            );
        }
    }
    for expected in [
        "POST /api/v1/auth/signup",
        "POST /api/v1/auth/verify",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/logout-all",
        "POST /api/v1/auth/password",
        "POST /api/v1/auth/password-reset",
        "POST /api/v1/auth/password-reset/confirm",
        "GET /api/v1/me",
        "PATCH /api/v1/me",
        "GET /api/v1/workspaces",
        "POST /api/v1/workspaces",
        "GET /api/v1/workspaces/{workspace_id}",
        "PATCH /api/v1/workspaces/{workspace_id}",
        "GET /api/v1/workspaces/{workspace_id}/members",
        "PATCH /api/v1/workspaces/{workspace_id}/members/{account_id}",
        "DELETE /api/v1/workspaces/{workspace_id}/members/{account_id}",
        "GET /api/v1/conversations",
        "GET /api/v1/conversations/{conversation_id}",
        "PATCH /api/v1/conversations/{conversation_id}",
        "GET /api/v1/conversations/{conversation_id}/audience",
        "POST /api/v1/conversations/{conversation_id}/recipients",
        "DELETE /api/v1/conversations/{conversation_id}/recipients/accounts/{account_id}",
        "DELETE /api/v1/conversations/{conversation_id}/recipients/groups/{group_id}",
        "GET /api/v1/conversations/{conversation_id}/messages",
        "POST /api/v1/conversations/{conversation_id}/messages",
        "GET /api/v1/conversations/{conversation_id}/messages/{seq}",
        "PATCH /api/v1/conversations/{conversation_id}/messages/{seq}",
        "DELETE /api/v1/conversations/{conversation_id}/messages/{seq}",
        "PUT /api/v1/conversations/{conversation_id}/messages/{seq}/reactions/{emoji}",
        "DELETE /api/v1/conversations/{conversation_id}/messages/{seq}/reactions/{emoji}",
        "POST /api/v1/conversations/{conversation_id}/read",
        "GET /api/v1/workspaces/{workspace_id}/groups",
        "POST /api/v1/workspaces/{workspace_id}/groups",
        "POST /api/v1/workspaces/{workspace_id}/threads",
        "POST /api/v1/workspaces/{workspace_id}/direct",
        "GET /api/v1/groups/{group_id}",
        "PATCH /api/v1/groups/{group_id}",
        "GET /api/v1/groups/{group_id}/members",
        "POST /api/v1/groups/{group_id}/members",
        "DELETE /api/v1/groups/{group_id}/members/{account_id}",
        "GET /api/v1/search",
        "GET /api/v1/workspaces/{workspace_id}/audit",
        "POST /api/v1/workspaces/{workspace_id}/replace",
        "GET /api/v1/workspaces/{workspace_id}/invitations",
        "POST /api/v1/workspaces/{workspace_id}/invitations",
        "POST /api/v1/workspaces/{workspace_id}/invitations/csv",
        "GET /api/v1/invitations",
        "POST /api/v1/invitations/{invitation_id}/resend",
        "DELETE /api/v1/invitations/{invitation_id}",
        "POST /api/v1/invitations/{invitation_id}/accept",
        "POST /api/v1/invitations/preview",
        "POST /api/v1/invitations/accept",
        "POST /api/v1/invitations/signup",
        "GET /api/v1/contacts",
        "GET /api/v1/people/{account_id}",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "GET /api/v1/openapi.json",
    ] {
        assert!(documented.contains(expected), "{expected} is missing from the OpenAPI document");
    }

    // Routes can only be added with `.route(` outside the documented routers; the only
    // ones allowed are the HTML pages.
    let mut undocumented = Vec::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            undocumented.extend(source.matches(".route(").map(|_| path.display().to_string()));
        }
    }
    assert_eq!(undocumented.len(), salon::http::PAGES.len(), "routes outside the OpenAPI document: {undocumented:?}");
    for page in salon::http::PAGES.iter().filter(|p| !p.contains('{')) {
        let answer = app.client.get(format!("{}{page}", app.base)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{page}");
        assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(answer.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    }
    let script = app.client.get(format!("{}/assets/app.js", app.base)).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let etag = script.headers()["etag"].clone();
    let again =
        app.client.get(format!("{}/assets/app.js", app.base)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "revalidation is cheap");
    for escape in ["/assets/../Cargo.toml", "/assets/%2e%2e/Cargo.toml", "/assets/nope.js"] {
        let answer = app.client.get(format!("{}{escape}", app.base)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{escape}");
    }

    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/openapi.json");
    let generated = salon::http::openapi().to_pretty_json().unwrap() + "\n";
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    if committed != generated && std::env::var_os("UPDATE_PROTOCOL").is_some() {
        std::fs::write(committed_path, &generated).unwrap();
    } else {
        assert!(
            committed == generated,
            "protocol/openapi.json is stale: run `UPDATE_PROTOCOL=1 cargo test --test api` and commit it"
        );
    }
    assert_eq!(serde_json::from_str::<Value>(&generated).unwrap(), doc, "the served document is the generated one");
}

/// Shutdown stops accepting connections, finishes, and releases the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_on_signal() {
    let config = test_config(Backend::Sqlite).await;
    let app = salon::App::build(config).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{addr}/healthz")).send().await.unwrap().status(), StatusCode::OK);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the server stops within the grace period")
        .unwrap()
        .expect("a clean stop");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is released");
}

/// A configuration that names a database that cannot be reached stops start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_fails_clearly_on_a_bad_database() {
    let mut config = test_config(Backend::Sqlite).await;
    config.database.url = salon::config::Secret("postgres://nobody@127.0.0.1:1/none".into());
    let err = salon::App::build(config).await.err().expect("start-up fails");
    assert!(err.to_string().contains("database"), "{err}");
}
