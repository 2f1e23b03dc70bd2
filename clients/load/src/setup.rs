//! Preparing a Salon server for a scenario through its real API: accounts signed up and
//! verified through the e-mailed link (read from the server's `file` outbox folder), a
//! workspace, and threads addressed to the accounts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub const PASSWORD: &str = "load-test password";

/// An account with a session.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Server {
    pub base: String,
    pub outbox: PathBuf,
    http: reqwest::Client,
    run: String,
    /// Accounts made so far (their addresses are numbered).
    made: Arc<std::sync::atomic::AtomicUsize>,
}

impl Server {
    pub fn new(base: &str, outbox: PathBuf) -> Server {
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("an HTTP client");
        let run =
            format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros());
        Server { base: base.trim_end_matches('/').to_owned(), outbox, http, run, made: Arc::default() }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, token, body).await
    }

    /// Signs up `n` accounts (named for this run) and verifies them from the outbox,
    /// `concurrency` at a time.
    pub async fn accounts(&self, n: usize, concurrency: usize) -> Vec<Account> {
        let started = Instant::now();
        let limit = Arc::new(Semaphore::new(concurrency));
        let mut asks = Vec::with_capacity(n);
        let first = self.made.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        let emails: Vec<String> = (first..first + n).map(|i| format!("load-{}-{i}@load.test", self.run)).collect();
        for email in &emails {
            let (server, email, limit) = (self.clone(), email.clone(), limit.clone());
            asks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                server
                    .post(
                        "/api/v1/auth/signup",
                        None,
                        json!({"email": email, "password": PASSWORD, "display_name": "Load"}),
                    )
                    .await;
            }));
        }
        for a in asks {
            a.await.expect("a sign-up");
        }
        let tokens = self.tokens_from_outbox(&emails).await;
        let mut verify = Vec::with_capacity(n);
        for email in &emails {
            let (server, token, limit) = (self.clone(), tokens[email].clone(), limit.clone());
            verify.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let session = server.post("/api/v1/auth/verify", None, json!({"token": token})).await;
                Account {
                    id: session["account"]["id"].as_str().unwrap().to_owned(),
                    token: session["token"].as_str().unwrap().to_owned(),
                }
            }));
        }
        let mut accounts = Vec::with_capacity(n);
        for v in verify {
            accounts.push(v.await.expect("a verification"));
        }
        eprintln!("salon-load: {n} accounts ready in {:.1} s", started.elapsed().as_secs_f64());
        accounts
    }

    /// Reads the verification tokens of `emails` from the outbox (removing the files).
    async fn tokens_from_outbox(&self, emails: &[String]) -> HashMap<String, String> {
        let wanted: std::collections::HashSet<&str> = emails.iter().map(String::as_str).collect();
        let mut found = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(120 + emails.len() as u64 / 10);
        while found.len() < emails.len() {
            assert!(Instant::now() < deadline, "verification e-mails did not all arrive in {:?}", self.outbox);
            let mut progress = false;
            if let Ok(dir) = std::fs::read_dir(&self.outbox) {
                for entry in dir.flatten() {
                    let path = entry.path();
                    if path.extension().is_none_or(|e| e != "eml") {
                        continue;
                    }
                    let Ok(raw) = std::fs::read_to_string(&path) else { continue };
                    let Some((to, token)) = parse_verification(&raw) else { continue };
                    if wanted.contains(to.as_str()) {
                        found.insert(to, token);
                        let _ = std::fs::remove_file(&path);
                        progress = true;
                    }
                }
            }
            if !progress {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        found
    }

    /// A workspace owned by `owner`.
    pub async fn workspace(&self, owner: &Account) -> String {
        let ws = self.post("/api/v1/workspaces", Some(&owner.token), json!({"name": "Load"})).await;
        ws["id"].as_str().unwrap().to_owned()
    }

    /// A thread of `ws` started by `owner`, addressed to `people` (the owner included).
    pub async fn thread(&self, ws: &str, owner: &Account, people: &[&Account]) -> String {
        let first: Vec<&str> = people.iter().take(400).map(|a| a.id.as_str()).collect();
        let thread = self
            .post(
                &format!("/api/v1/workspaces/{ws}/threads"),
                Some(&owner.token),
                json!({"subject": "Load", "accounts": first}),
            )
            .await;
        let id = thread["id"].as_str().unwrap().to_owned();
        for a in people.iter().skip(400) {
            self.post(
                &format!("/api/v1/conversations/{id}/recipients"),
                Some(&owner.token),
                json!({"account_id": a.id}),
            )
            .await;
        }
        id
    }
}

/// `(recipient, token)` of a verification e-mail.
fn parse_verification(raw: &str) -> Option<(String, String)> {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n")?;
    let to = head.lines().find_map(|l| l.strip_prefix("To: "))?.trim().trim_matches(['<', '>']).to_owned();
    let body = body.replace("=\n", "").replace("=3D", "=");
    let start = body.find("/verify#token=")? + "/verify#token=".len();
    let token: String =
        body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    Some((to, token))
}
