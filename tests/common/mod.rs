//! Test harness: a fresh database per test on either backend, a real Salon server on a
//! loopback port, an HTTP client, and the e-mails it writes.
//!
//! PostgreSQL tests create their own database `salon_t_<pid>_<random>` on the server named
//! by `SALON_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`); files (SQLite
//! databases, outboxes, Maildirs) go under `<temp>/salon-tests/<pid>/`. A test process
//! cannot clean up when it ends (the servers it started still run), so each one, when it
//! first needs them, removes what test processes that are gone left behind: a bare `cargo
//! test` keeps at most its own last run. They fail, never skip, when PostgreSQL is
//! unreachable.

#![allow(dead_code)]

pub mod cluster;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use salon::config::{Backend, Config, Secret};
use salon::services::Services;

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(salon::config::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(salon::config::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn random_suffix() -> String {
    format!("{:016x}", salon::crypto::random_id())
}

pub fn postgres_server() -> String {
    std::env::var("SALON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Whether the process `pid` still runs (where `/proc` tells; elsewhere, assumed).
fn running(pid: &str) -> bool {
    !Path::new("/proc/self").exists() || Path::new("/proc").join(pid).exists()
}

/// A new, empty folder for one test's files, under this process's own folder; the first
/// call removes the folders of test processes that are gone.
pub fn scratch(what: &str) -> PathBuf {
    static OWN: OnceLock<PathBuf> = OnceLock::new();
    let own = OWN.get_or_init(|| {
        let root = std::env::temp_dir().join("salon-tests");
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !running(&name) {
                std::fs::remove_dir_all(entry.path()).ok();
            }
        }
        root.join(std::process::id().to_string())
    });
    let dir = own.join(format!("{what}-{}", random_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Drops the databases of test processes that are gone (once per process).
async fn drop_leftover_databases(admin: &mut sqlx::PgConnection) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'salon\\_t\\_%'")
                .fetch_all(&mut *admin)
                .await
                .unwrap_or_default();
        for name in names {
            // salon_t_<pid>_<random>; a name of another shape is not ours to judge.
            if let Some(pid) = name.split('_').nth(2)
                && name.split('_').count() == 4
                && !running(pid)
            {
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *admin).await.ok();
            }
        }
    })
    .await;
}

/// A database URL for a brand-new, empty database on `backend`.
pub async fn fresh_database(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", scratch("db").join("salon.db").display()),
        Backend::Postgres => {
            use sqlx::Connection;
            let server = postgres_server();
            let name = format!("salon_t_{}_{}", std::process::id(), random_suffix());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {server} for this test: {e}"));
            drop_leftover_databases(&mut admin).await;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            admin.close().await.ok();
            format!("{server}/{name}")
        }
    }
}

/// The configuration of a test server: port 0, a fresh database, a private outbox.
pub async fn test_config(backend: Backend) -> Config {
    let mut config = Config::default();
    config.http.listen = "127.0.0.1:0".into();
    config.http.public_url = "http://salon.test".into();
    config.database.url = Secret(fresh_database(backend).await);
    config.database.max_connections = 5;
    config.database.sqlite_synchronous = "normal".into();
    config.mail.outbox_dir = scratch("outbox");
    config
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Where this server's e-mail lands: the `file` transport's folder, or the Maildir of
    /// the test's SMTP server.
    pub outbox: PathBuf,
    pub services: Services,
    pub config: Config,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(backend).await;
    adjust(&mut config);
    let app = salon::App::build(config.clone()).await.expect("the server starts");
    let addr = app.local_addr();
    let services = app.services().clone();
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        outbox: config.mail.outbox_dir.clone(),
        services,
        config,
    }
}

/// An answer: status, `Retry-After` if any, and the JSON body (`Value::Null` if none).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The error code, if this is an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("the server answers")).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn call_raw(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        read(req.send().await.expect("the server answers")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Waits (up to 10 s) for an e-mail to `to` whose subject contains `subject`, and
    /// returns its decoded body. Each message is returned once.
    pub async fn wait_for_mail(&self, to: &str, subject: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(body) = self.take_mail(to, subject) {
                return body;
            }
            assert!(Instant::now() < deadline, "no e-mail to {to} with subject containing {subject:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn take_mail(&self, to: &str, subject: &str) -> Option<String> {
        take_mail(&self.outbox, to, subject)
    }

    /// How many e-mails are in the outbox and not yet taken by `wait_for_mail`.
    pub fn mail_count(&self) -> usize {
        unread_mail(&self.outbox).len()
    }

    /// How many e-mails to `to` whose subject contains `subject` arrived, taken or not.
    pub fn mail_count_to(&self, to: &str, subject: &str) -> usize {
        let matches = |m: &Mail| m.header("to").contains(&to.to_lowercase()) && m.header("subject").contains(subject);
        all_mail(&self.outbox).iter().filter(|(_, m)| matches(m)).count()
    }

    /// Signs up, follows the verification link and returns `(session token, account id)`.
    pub async fn new_account(&self, email: &str, name: &str) -> (String, String) {
        let answer = self
            .post("/api/v1/auth/signup", None, json!({"email": email, "password": PASSWORD, "display_name": name}))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        let mail = self.wait_for_mail(email, "Confirm your e-mail").await;
        let token = link_token(&mail, "/verify#token=");
        let session = self.post("/api/v1/auth/verify", None, json!({"token": token})).await;
        assert_eq!(session.status, StatusCode::OK, "{session:?}");
        (session.body["token"].as_str().unwrap().to_owned(), session.body["account"]["id"].as_str().unwrap().to_owned())
    }

    pub fn store(&self) -> Arc<dyn salon::store::Store> {
        self.services.store.clone()
    }

    /// Runs a statement on the server's database behind its back (to move time, or to
    /// look at what is stored), returning the first column of the first row as a number
    /// (0 if none).
    pub async fn sql(&self, statement: &str) -> i64 {
        use sqlx::Connection;
        let url = self.config.database.url.expose().clone();
        if url.starts_with("sqlite:") {
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(statement).fetch_optional(&mut db).await.unwrap().unwrap_or(0)
        } else {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(statement).fetch_optional(&mut db).await.unwrap().unwrap_or(0)
        }
    }

    /// Waits (up to 20 s) until `statement` answers a non-zero number.
    pub async fn wait_for_sql(&self, statement: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.sql(statement).await == 0 {
            assert!(Instant::now() < deadline, "{what} did not happen within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.expect("a body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer { status, body, retry_after }
}

/// A received e-mail: unfolded headers and the decoded body.
pub struct Mail {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Option<Mail> {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n")?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mail = Mail { headers, body: String::new() };
        let body = if mail.header("content-transfer-encoding").eq_ignore_ascii_case("quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        };
        Some(Mail { body, ..mail })
    }

    /// The value of a header (the first), or "".
    pub fn header(&self, name: &str) -> String {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

/// Files holding messages not yet taken: `*.eml` in an outbox folder, `new/*` in a Maildir.
fn unread_mail(dir: &std::path::Path) -> Vec<PathBuf> {
    let maildir = dir.join("new");
    let (folder, maildir) = if maildir.is_dir() { (maildir, true) } else { (dir.to_owned(), false) };
    let Ok(entries) = std::fs::read_dir(folder) else { return vec![] };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| maildir || p.extension().is_some_and(|e| e == "eml")).collect();
    files.sort();
    files
}

/// Every message ever delivered to `dir`, taken or not.
fn all_mail(dir: &std::path::Path) -> Vec<(PathBuf, Mail)> {
    let mut out = Vec::new();
    for sub in [dir.to_owned(), dir.join("new"), dir.join("cur")] {
        let Ok(entries) = std::fs::read_dir(&sub) else { continue };
        for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_file()) {
            if let Some(mail) = std::fs::read_to_string(&path).ok().and_then(|raw| Mail::parse(&raw)) {
                out.push((path, mail));
            }
        }
    }
    out
}

/// Takes (marks read) the first unread message to `to` whose subject contains `subject`.
fn take_mail(dir: &std::path::Path, to: &str, subject: &str) -> Option<String> {
    for path in unread_mail(dir) {
        let Some(mail) = std::fs::read_to_string(&path).ok().and_then(|raw| Mail::parse(&raw)) else { continue };
        if mail.header("to").to_lowercase().contains(&to.to_lowercase()) && mail.header("subject").contains(subject) {
            let taken = match path.parent().and_then(|p| p.file_name()) {
                Some(name) if name == "new" => dir.join("cur").join(path.file_name()?),
                _ => path.with_extension("read"),
            };
            std::fs::create_dir_all(taken.parent()?).ok()?;
            std::fs::rename(&path, taken).ok()?;
            return Some(mail.body);
        }
    }
    None
}

/// A real SMTP server for a test: aiosmtpd (`python3 -m aiosmtpd`) in its own process,
/// storing what it receives in a Maildir. `scripts/test` installs it and points
/// `SALON_TEST_PYTHON` at a Python that has it.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    child: Option<std::process::Child>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = scratch("smtp").join("Maildir");
        let mut server = SmtpServer { port, maildir, child: None };
        server.restart().await;
        server
    }

    /// Starts (again) on the same port and Maildir.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is running already");
        let python = std::env::var("SALON_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = std::process::Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} -m aiosmtpd ({e}): run scripts/test, which installs it"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("aiosmtpd exited at start ({status}): is it installed for {python}? run scripts/test");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {} within 20 s", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (the port refuses connections until `restart`).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test server whose e-mail goes through `smtp` (plain SMTP on loopback), retrying
/// failed deliveries after a second.
pub async fn spawn_app_with_smtp(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let port = smtp.port;
    let maildir = smtp.maildir.clone();
    let mut app = spawn_app_with(backend, |c| {
        c.mail.transport = "smtp".into();
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
        c.mail.smtp_timeout_seconds = 5;
        c.mail.retry_min_seconds = 1;
        c.mail.retry_max_seconds = 2;
    })
    .await;
    app.outbox = maildir;
    app
}

/// The token that follows `marker` in an e-mail body.
pub fn link_token(body: &str, marker: &str) -> String {
    let start = body.find(marker).unwrap_or_else(|| panic!("no {marker} in {body}")) + marker.len();
    body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'='
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// Gateway clients

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A gateway client as tests drive it. Every JSON frame it receives is checked against
/// `protocol/gateway.schema.json`.
pub struct Gw {
    pub ws: WsStream,
}

/// What a socket saw last.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Frame(Value),
    Closed(Option<u16>),
}

fn server_frame_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut schema = salon::gateway::json_schema();
        schema["$ref"] = json!("#/$defs/ServerFrame");
        jsonschema::validator_for(&schema).expect("the gateway schema is a valid JSON schema")
    })
}

impl TestApp {
    pub fn gateway_url(&self) -> String {
        format!("{}/api/v1/gateway", self.base.replace("http://", "ws://"))
    }

    /// Opens a socket without authenticating.
    pub async fn open_gateway(&self, origin: Option<&str>) -> Result<Gw, tokio_tungstenite::tungstenite::Error> {
        let mut request = self.gateway_url().into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Gw { ws })
    }

    /// Opens a socket, says hello and returns it with the `ready` frame.
    pub async fn gateway(&self, token: &str) -> (Gw, Value) {
        self.gateway_resuming(token, json!({})).await
    }

    pub async fn gateway_resuming(&self, token: &str, resume: Value) -> (Gw, Value) {
        gateway_at(&self.base, token, resume).await
    }
}

/// Opens a socket on the server at `base`, says hello (resuming from `resume`) and
/// returns it with the `ready` frame.
pub async fn gateway_at(base: &str, token: &str, resume: Value) -> (Gw, Value) {
    let url = format!("{}/api/v1/gateway", base.replace("http://", "ws://"));
    let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("the gateway accepts the socket");
    let mut gw = Gw { ws };
    gw.send(json!({"type": "hello", "token": token, "resume": resume})).await;
    let ready = gw.next_of("ready").await;
    (gw, ready)
}

impl Gw {
    pub async fn send(&mut self, frame: Value) {
        self.ws.send(WsMessage::text(frame.to_string())).await.expect("the socket is open");
    }

    pub async fn send_raw(&mut self, message: WsMessage) {
        self.ws.send(message).await.expect("the socket is open");
    }

    /// The next frame or close, within 10 s (pings do not count).
    pub async fn next(&mut self) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("something arrives within 10 s");
            match next {
                Some(Ok(WsMessage::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    let validator = server_frame_validator();
                    if let Err(e) = validator.validate(&value) {
                        panic!("a server frame does not match protocol/gateway.schema.json: {e}\n{value}");
                    }
                    return Received::Frame(value);
                }
                Some(Ok(WsMessage::Close(frame))) => return Received::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
                Some(Ok(WsMessage::Binary(_))) => panic!("the server sent a binary frame"),
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    }

    pub async fn frame(&mut self) -> Value {
        match self.next().await {
            Received::Frame(v) => v,
            Received::Closed(code) => panic!("the socket closed ({code:?}) while a frame was expected"),
        }
    }

    /// Skips frames until one of `kind` arrives.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.frame().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Reads until the socket closes; returns the close code and what came before.
    pub async fn until_closed(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut frames = Vec::new();
        loop {
            match self.next().await {
                Received::Frame(v) => frames.push(v),
                Received::Closed(code) => return (code, frames),
            }
        }
    }

    /// Sends a ping frame and collects everything until its pong.
    pub async fn round_trip(&mut self, reference: &str) -> Vec<Value> {
        self.send(json!({"type": "ping", "ref": reference})).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.frame().await;
            if frame["type"] == "pong" && frame["ref"] == reference {
                return frames;
            }
            frames.push(frame);
        }
    }
}
