//! The command-line client against a spawned server (SQLite), as a script would use it:
//! every command, `--json` output, and exit codes; and `tail` against a two-node cluster.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::cluster::{Cluster, shared_redis};
use common::{PASSWORD, TestApp, spawn_app};
use salon::config::Backend;
use salon::domain::{AccountId, Role, WorkspaceId};
use serde_json::{Value, json};

struct Cli {
    server: String,
    session: std::path::PathBuf,
}

impl Cli {
    fn new(app: &TestApp) -> Cli {
        let session = std::env::temp_dir().join(format!("salon-cli-{}.json", common::random_suffix()));
        Cli { server: app.base.clone(), session }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_salon-cli"));
        command.arg("--session").arg(&self.session).args(args);
        command
    }

    /// Runs a command; returns its exit code, standard output and error.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with_input(args, "")
    }

    fn run_with_input(&self, args: &[&str], input: &str) -> (i32, String, String) {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("salon-cli runs");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
        (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.run(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    }
}

/// An owner with a workspace "Acme" and a thread "Launch" shared with a member.
async fn world() -> (TestApp, Cli, (String, String), (String, String), String, String) {
    let app = spawn_app(Backend::Sqlite).await;
    let (cli, owner, member, ws, thread) = world_on(&app).await;
    (app, cli, owner, member, ws, thread)
}

async fn world_on(app: &TestApp) -> (Cli, (String, String), (String, String), String, String) {
    let owner = app.new_account("owner@cli.test", "Olive").await;
    let member = app.new_account("member@cli.test", "Mia").await;
    let ws = app.post("/api/v1/workspaces", Some(&owner.0), json!({"name": "Acme"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (w, a) = (WorkspaceId(ws.parse().unwrap()), AccountId(member.1.parse().unwrap()));
    app.services.workspaces.add_member(w, a, Role::Member).await.unwrap();
    let thread = app
        .post(
            &format!("/api/v1/workspaces/{ws}/threads"),
            Some(&owner.0),
            json!({"subject": "Launch", "accounts": [member.1]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cli = Cli::new(app);
    (cli, owner, member, ws, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_list_send_export_and_log_out() {
    let (app, cli, _owner, _member, _ws, thread) = world().await;
    let server = cli.server.clone();

    // Not logged in yet: exit code 3, a clear message.
    let (code, _, err) = cli.run(&["conversations"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("login"), "{err}");
    // A wrong password: 3 as well.
    let (code, _, _) =
        cli.run_with_input(&["--server", &server, "login", "--email", "owner@cli.test"], "wrong password");
    assert_eq!(code, 3);
    let (code, out, err) =
        cli.run_with_input(&["--server", &server, "login", "--email", "owner@cli.test", "--password-stdin"], PASSWORD);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Olive"), "{out}");
    let saved = std::fs::read_to_string(&cli.session).unwrap();
    assert!(saved.contains(&server));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cli.session).unwrap().permissions().mode() & 0o777, 0o600, "owner-only");
    }

    assert_eq!(cli.json(&["whoami"])["email"], "owner@cli.test");
    let list = cli.json(&["conversations"]);
    assert_eq!(list["workspaces"][0]["conversations"][0]["title"], "Launch");
    let (_, text, _) = cli.run(&["ls"]);
    assert!(text.contains("Acme (owner)") && text.contains("Launch"), "{text}");

    // Send by title and by id, from arguments and from standard input; idempotent with a client id.
    let sent = cli.json(&["send", "Launch", "hello", "from", "the", "terminal"]);
    assert_eq!((sent["seq"].clone(), sent["body"].clone()), (json!(1), json!("hello from the terminal")));
    let (code, _, err) = cli.run_with_input(&["send", &thread, "--client-id", "k1"], "line one\nline two\n");
    assert_eq!(code, 0, "{err}");
    let (code, again, err) =
        cli.run_with_input(&["--json", "send", &thread, "--client-id", "k1", "-"], "line one\nline two\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap()["seq"], 2, "a resend answers with the original");
    let history =
        app.get(&format!("/api/v1/conversations/{thread}/messages"), &login(&app, "owner@cli.test").await).await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2, "the retried send was stored once");

    // Export: the whole history as one JSON document.
    let out = std::env::temp_dir().join(format!("salon-export-{}.json", common::random_suffix()));
    let (code, _, err) = cli.run(&["export", "Launch", "--output", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let export: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(export["conversation"]["title"], "Launch");
    let bodies: Vec<&str> =
        export["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello from the terminal", "line one\nline two\n"]);

    // Errors: unknown conversation (4), empty message (6), with JSON errors on stderr.
    let (code, _, err) = cli.run(&["--json", "send", "No such", "x"]);
    assert_eq!(code, 4);
    assert_eq!(serde_json::from_str::<Value>(&err).unwrap()["error"]["code"], "not_found");
    let (code, _, _) = cli.run_with_input(&["send", &thread], "   ");
    assert_eq!(code, 6);

    let (code, _, _) = cli.run(&["logout"]);
    assert_eq!(code, 0);
    assert!(!cli.session.exists());
    assert_eq!(cli.run(&["whoami"]).0, 3);
}

async fn login(app: &TestApp, email: &str) -> String {
    let r = app.post("/api/v1/auth/login", None, json!({"email": email, "password": PASSWORD})).await;
    r.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_live_and_stops_when_access_is_lost() {
    let (app, cli, owner, member, _ws, thread) = world().await;
    tail_story(&app, &cli, &owner, &member, &thread).await;
}

/// The same story on a cluster: `tail` follows from node 2 what is posted, and the removal
/// made, through node 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_a_conversation_across_cluster_nodes() {
    let cluster = Cluster::start(2, shared_redis()).await;
    let app = cluster.node(0);
    let (mut cli, owner, member, _ws, thread) = world_on(app).await;
    cli.server = cluster.node(1).base.clone();
    tail_story(app, &cli, &owner, &member, &thread).await;
}

/// `tail` as the member on `cli.server`: the last message, then live ones posted through
/// `app`, then exit code 4 once `app` removes the member.
async fn tail_story(app: &TestApp, cli: &Cli, owner: &(String, String), member: &(String, String), thread: &str) {
    let (code, _, err) = cli.run_with_input(
        &["--server", &cli.server, "login", "--email", "member@cli.test", "--password-stdin"],
        PASSWORD,
    );
    assert_eq!(code, 0, "{err}");
    let messages = format!("/api/v1/conversations/{thread}/messages");
    app.post(&messages, Some(&owner.0), json!({"body": "before"})).await;

    let mut tail = tokio::process::Command::from(cli.command(&["--json", "tail", "Launch", "-n", "5"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next().await["body"], "before");
    // Live: posted after tail started (it may still be connecting: it resumes from seq 1).
    app.post(&messages, Some(&owner.0), json!({"body": "live one"})).await;
    app.post(&messages, Some(&owner.0), json!({"body": "live two"})).await;
    assert_eq!(next().await["body"], "live one");
    assert_eq!(next().await["body"], "live two");
    // Removed from the thread: tail ends with "not found" (4).
    app.delete(&format!("/api/v1/conversations/{thread}/recipients/accounts/{}", member.1), &owner.0).await;
    let status = tokio::time::timeout(Duration::from_secs(10), tail.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_add_members_and_remove() {
    let (app, cli, _owner, member, ws, thread) = world().await;
    cli.run_with_input(&["--server", &cli.server, "login", "--email", "owner@cli.test", "--password-stdin"], PASSWORD);

    let invited = cli.json(&[
        "invite",
        "Acme",
        "--email",
        "c1@client.test",
        "--email",
        "c2@client.test",
        "--role",
        "lite",
        "--thread",
        "Launch",
    ]);
    let emails: Vec<&str> =
        invited["invitations"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect();
    assert_eq!(emails.len(), 2);
    app.wait_for_mail("c1@client.test", "invited you").await;
    // A lite invitation without a conversation is refused: invalid input (6).
    let (code, _, err) = cli.run(&["invite", &ws, "--email", "c3@client.test", "--role", "lite"]);
    assert_eq!(code, 6, "{err}");
    // CSV.
    let csv = std::env::temp_dir().join(format!("salon-invite-{}.csv", common::random_suffix()));
    std::fs::write(&csv, "email,role\nc4@client.test,member\n").unwrap();
    let from_csv = cli.json(&["invite", "Acme", "--csv", csv.to_str().unwrap()]);
    assert_eq!(from_csv["invitations"][0]["email"], "c4@client.test");

    // Add a guest by e-mail; the member list shows them pending.
    let added = cli.json(&["add", "Launch", "guest@client.test"]);
    assert_eq!(added["status"], "email_sent");
    let members = cli.json(&["members", &thread]);
    assert_eq!(members["invited"][0]["email"], "guest@client.test");
    // Remove the member: the receipt.
    let receipt = cli.json(&["remove", "Launch", &member.1]);
    assert_eq!(receipt["action"], "participant_removed");
    let (code, _, _) = cli.run(&["remove", "Launch", &member.1]);
    assert_eq!(code, 4, "already gone");
    let (code, _, _) = cli.run(&["remove", "Launch", "not-an-id"]);
    assert_eq!(code, 2, "usage");
}
