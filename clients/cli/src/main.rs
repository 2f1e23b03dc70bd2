//! `salon-cli`: Salon from a terminal or a script. Log in once; then list conversations,
//! send, follow a conversation live (`tail -f` style), export its history as JSON, invite
//! people, add and remove them. `--json` makes every command print JSON (NDJSON for
//! `tail`), and the exit code tells what happened (see `--help`).

mod api;
mod session;
mod tail;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reqwest::Method;
use serde_json::json;

use api::{Api, CliError, Result};
use salon_protocol::rest::{
    Accepted, AddMemberRequest, AddRecipientRequest, Audience, AuditEntry, Conversation, ConversationKind,
    ConversationList, Invitation, InvitationList, InvitationRequest, InviteRequest, LoginRequest, Message, MessagePage,
    PostMessageRequest, Role, Session, WorkspaceList,
};
use salon_protocol::{AccountId, ConversationId};

const EXIT_CODES: &str = "Exit codes: 0 done · 1 unexpected error · 2 bad usage · 3 not logged in or \
bad credentials · 4 not found (or not yours to see) · 5 not allowed (forbidden, read-only, locked) · \
6 invalid input · 7 conflict or limit reached · 8 rate limited · 9 server unreachable or unavailable";

#[derive(Parser)]
#[command(name = "salon-cli", version, about = "Salon from the command line", after_help = EXIT_CODES)]
struct Cli {
    /// The server, e.g. https://chat.example.com (default: the one you logged in to).
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// Print JSON instead of text (one object per line for `tail`).
    #[arg(long, global = true)]
    json: bool,
    /// Where the session is kept (default: ~/.config/salon/cli.json).
    #[arg(long, global = true, value_name = "FILE")]
    session: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in and keep the session for the next commands.
    Login {
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of prompting for it.
        #[arg(long)]
        password_stdin: bool,
    },
    /// End the session (on the server too).
    Logout,
    /// Who you are logged in as.
    Whoami,
    /// Your workspaces and your role in each.
    Workspaces,
    /// Your conversations, by workspace, with unread counts.
    #[command(alias = "ls")]
    Conversations,
    /// Send a message (the text from the arguments, or standard input).
    Send {
        /// A conversation id or title.
        conversation: String,
        /// The text; omit (or `-`) to read standard input.
        text: Vec<String>,
        /// Makes a retried send idempotent: the same id is stored once.
        #[arg(long)]
        client_id: Option<String>,
        /// Answer the message with this sequence number.
        #[arg(long)]
        reply_to: Option<i64>,
    },
    /// Print the last messages, then follow the conversation live until interrupted.
    Tail {
        conversation: String,
        /// How many recent messages to print first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: i64,
        /// Print and exit instead of following.
        #[arg(long)]
        no_follow: bool,
    },
    /// Export a conversation's whole history as JSON.
    Export {
        conversation: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Who can see a conversation.
    Members { conversation: String },
    /// Invite people into a workspace (owners, admins, managers).
    Invite {
        /// A workspace id or name.
        workspace: String,
        /// Addresses to invite (repeat for a batch).
        #[arg(long = "email", required_unless_present = "csv")]
        emails: Vec<String>,
        /// admin, manager, member or lite.
        #[arg(long, default_value = "member")]
        role: String,
        /// Groups to give (ids or names; repeat).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Threads to give (ids or titles; repeat).
        #[arg(long = "thread")]
        threads: Vec<String>,
        /// A personal note for the e-mail.
        #[arg(long)]
        message: Option<String>,
        /// Invite from a CSV file instead: email,role,groups,threads,message.
        #[arg(long, conflicts_with = "emails")]
        csv: Option<PathBuf>,
    },
    /// Add someone to a group or thread: an e-mail address, or an account id.
    Add {
        conversation: String,
        person: String,
        /// A personal note for the e-mail (with an address).
        #[arg(long)]
        message: Option<String>,
    },
    /// Remove someone (an account id) from a group or thread. Prints the receipt.
    Remove { conversation: String, account: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                eprintln!("{}", json!({"error": {"code": e.code(), "message": e.to_string()}}));
            } else {
                eprintln!("salon-cli: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints a value as JSON, or as text through `human`.
fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) {
    if json {
        println!("{}", serde_json::to_string(value).expect("answers serialize"));
    } else {
        human(value);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let path = cli.session.clone().unwrap_or_else(session::default_path);
    let saved = session::load(&path)?;
    let server = cli.server.clone().or_else(|| saved.as_ref().map(|s| s.server.clone()));
    if let Command::Login { email, password_stdin } = &cli.command {
        let server = server.ok_or_else(|| CliError::Usage("give the server: --server https://...".into()))?;
        return login(&path, &server, email, *password_stdin, cli.json).await;
    }
    let saved = saved.ok_or(CliError::NoSession)?;
    if cli.server.as_ref().is_some_and(|s| s.trim_end_matches('/') != saved.server) {
        return Err(CliError::Usage(format!(
            "you are logged in to {}; log in to the other server first",
            saved.server
        )));
    }
    let api = Api::new(&saved.server, Some(saved.token.clone()));
    let json = cli.json;
    match cli.command {
        Command::Login { .. } => unreachable!("handled above"),
        Command::Logout => {
            api.call_ignoring(Method::POST, "/auth/logout", Some(&json!({}))).await.or_else(|e| match e {
                // Already over on the server: forgetting it here is all that is left.
                CliError::Api { code: salon_protocol::ErrorCode::Unauthenticated, .. } => Ok(()),
                e => Err(e),
            })?;
            session::forget(&path)?;
            print(json, &json!({"status": "logged_out"}), |_| println!("Logged out."));
        }
        Command::Whoami => {
            let me: salon_protocol::rest::Account = api.get("/me").await?;
            print(json, &me, |me| println!("{} <{}> on {}", me.display_name, me.email, api.server));
        }
        Command::Workspaces => {
            let list: WorkspaceList = api.get("/workspaces").await?;
            print(json, &list, |list| {
                for w in &list.workspaces {
                    println!("{}  {}  ({})", w.id, w.name, w.my_role.as_str());
                }
            });
        }
        Command::Conversations => {
            let list: ConversationList = api.get("/conversations").await?;
            print(json, &list, |list| {
                for w in &list.workspaces {
                    let role = w.my_role.map(|r| r.as_str()).unwrap_or("external");
                    println!("{} ({role})", w.workspace_name);
                    for c in &w.conversations {
                        println!("  {}", conversation_line(c));
                    }
                }
            });
        }
        Command::Send { conversation, text, client_id, reply_to } => {
            let id = resolve_conversation(&api, &conversation).await?;
            let body = if text.is_empty() || text == ["-"] { read_stdin()? } else { text.join(" ") };
            let request = PostMessageRequest { body, client_id, reply_to, mentions: vec![] };
            let message: Message = api.post(&format!("/conversations/{id}/messages"), &request).await?;
            print(json, &message, |m| println!("sent #{}", m.seq));
        }
        Command::Tail { conversation, lines, no_follow } => {
            let id = resolve_conversation(&api, &conversation).await?;
            tail::run(&api, id, lines, !no_follow, json).await?;
        }
        Command::Export { conversation, output } => {
            let id = resolve_conversation(&api, &conversation).await?;
            let about: Conversation = api.get(&format!("/conversations/{id}")).await?;
            let mut messages: Vec<Message> = Vec::new();
            let mut after = 0;
            loop {
                let page: MessagePage =
                    api.get(&format!("/conversations/{id}/messages?after={after}&limit=200")).await?;
                let done = !page.has_after || page.messages.is_empty();
                after = page.messages.last().map(|m| m.seq).unwrap_or(after);
                messages.extend(page.messages);
                if done {
                    break;
                }
            }
            let export = json!({"conversation": about, "messages": messages});
            let text = serde_json::to_string_pretty(&export).expect("serializes");
            match output {
                Some(file) => std::fs::write(&file, text + "\n")
                    .map_err(|e| CliError::Other(format!("cannot write {}: {e}", file.display())))?,
                None => println!("{text}"),
            }
        }
        Command::Members { conversation } => {
            let id = resolve_conversation(&api, &conversation).await?;
            let audience: Audience = api.get(&format!("/conversations/{id}/audience")).await?;
            print(json, &audience, |a| {
                let badge = |external: bool| if external { "  [external]" } else { "" };
                for p in &a.participants {
                    println!("{}  {}{}", p.account_id, p.display_name, badge(p.external));
                }
                for g in &a.groups {
                    println!("group {} ({}):", g.name, g.id);
                    for p in &g.members {
                        println!("  {}  {}{}", p.account_id, p.display_name, badge(p.external));
                    }
                }
                for i in &a.invited {
                    println!("{}  (invited, pending)", i.email);
                }
            });
        }
        Command::Invite { workspace, emails, role, groups, threads, message, csv } => {
            let ws = resolve_workspace(&api, &workspace).await?;
            let list: InvitationList = match csv {
                Some(file) => {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
                    api.post_csv(&format!("/workspaces/{ws}/invitations/csv"), text).await?
                }
                None => {
                    let role = Role::parse(&role).ok_or_else(|| {
                        CliError::Usage(format!("unknown role {role:?}: admin, manager, member or lite"))
                    })?;
                    let mut group_ids = Vec::new();
                    for g in &groups {
                        group_ids.push(resolve_conversation(&api, g).await?);
                    }
                    let mut thread_ids = Vec::new();
                    for t in &threads {
                        thread_ids.push(resolve_conversation(&api, t).await?);
                    }
                    let invitations = emails
                        .into_iter()
                        .map(|email| InvitationRequest {
                            email,
                            role,
                            groups: group_ids.clone(),
                            threads: thread_ids.clone(),
                            message: message.clone(),
                        })
                        .collect();
                    api.post(&format!("/workspaces/{ws}/invitations"), &InviteRequest { invitations }).await?
                }
            };
            print(json, &list, |list| {
                for i in &list.invitations {
                    println!("invited {} as {}", i.email, role_text(i));
                }
            });
        }
        Command::Add { conversation, person, message } => {
            let id = resolve_conversation(&api, &conversation).await?;
            let kind = api.get::<Conversation>(&format!("/conversations/{id}")).await?.kind;
            let (email, account) = match person.parse::<i64>() {
                Ok(n) => (None, Some(AccountId(n))),
                Err(_) => (Some(person.clone()), None),
            };
            let path = match kind {
                ConversationKind::Group => format!("/groups/{id}/members"),
                _ => format!("/conversations/{id}/recipients"),
            };
            let by_email = email.is_some();
            let body = match kind {
                ConversationKind::Group => {
                    serde_json::to_value(AddMemberRequest { account_id: account, email, message })
                }
                _ => serde_json::to_value(AddRecipientRequest { group_id: None, account_id: account, email, message }),
            }
            .expect("serializes");
            if by_email {
                let answer: Accepted = api.post(&path, &body).await?;
                print(json, &answer, |_| {
                    println!("An e-mail went to {person}: added, or invited to sign up if they have no account yet.")
                });
            } else {
                api.call_ignoring(Method::POST, &path, Some(&body)).await?;
                print(json, &json!({"status": "added"}), |_| println!("Added."));
            }
        }
        Command::Remove { conversation, account } => {
            let id = resolve_conversation(&api, &conversation).await?;
            let kind = api.get::<Conversation>(&format!("/conversations/{id}")).await?.kind;
            let account: AccountId =
                account.parse().map_err(|_| CliError::Usage(format!("{account:?} is not an account id")))?;
            let path = match kind {
                ConversationKind::Group => format!("/groups/{id}/members/{account}"),
                _ => format!("/conversations/{id}/recipients/accounts/{account}"),
            };
            let receipt: AuditEntry = api.call(Method::DELETE, &path, None::<&()>).await?;
            print(json, &receipt, |r| {
                let who = r.account.as_ref().map(|a| a.name.as_str()).unwrap_or("them");
                println!("Removed {who} (receipt {}).", r.id);
            });
        }
    }
    Ok(())
}

async fn login(path: &PathBuf, server: &str, email: &str, password_stdin: bool, json: bool) -> Result<()> {
    let password = if password_stdin || !std::io::stdin().is_terminal() {
        read_stdin()?
    } else {
        rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::Other(format!("cannot read the password: {e}")))?
    };
    let api = Api::new(server, None);
    let request =
        LoginRequest { email: email.to_owned(), password: password.trim_end_matches(['\r', '\n']).to_owned() };
    let session: Session = api.post("/auth/login", &request).await?;
    session::save(
        path,
        &session::Saved {
            server: api.server.clone(),
            token: session.token.clone(),
            email: session.account.email.clone(),
        },
    )?;
    print(json, &session.account, |a| println!("Logged in to {} as {} <{}>.", api.server, a.display_name, a.email));
    Ok(())
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Other(format!("cannot read standard input: {e}")))?;
    Ok(text)
}

fn role_text(i: &Invitation) -> &'static str {
    i.role.map(|r| r.as_str()).unwrap_or("guest")
}

fn conversation_line(c: &Conversation) -> String {
    let kind = match c.kind {
        ConversationKind::Group => "group",
        ConversationKind::Thread => "thread",
        ConversationKind::Direct => "direct",
    };
    let title = if c.title.is_empty() { "(direct)" } else { c.title.as_str() };
    let mut line = format!("{}  {kind:6}  {title}", c.id);
    if c.unread > 0 {
        line.push_str(&format!("  {} unread", c.unread));
    }
    if c.has_externals {
        line.push_str("  [external]");
    }
    if !c.can_post {
        line.push_str("  [read-only]");
    }
    line
}

/// A conversation by id, or by title (exact, ignoring case, among yours; must be unique).
async fn resolve_conversation(api: &Api, reference: &str) -> Result<ConversationId> {
    if let Ok(id) = reference.parse::<i64>() {
        return Ok(ConversationId(id));
    }
    let list: ConversationList = api.get("/conversations").await?;
    let found: Vec<&Conversation> = list
        .workspaces
        .iter()
        .flat_map(|w| &w.conversations)
        .filter(|c| c.title.eq_ignore_ascii_case(reference))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::Api {
            code: salon_protocol::ErrorCode::NotFound,
            message: format!("no conversation of yours is called {reference:?}"),
        }),
        _ => Err(CliError::Usage(format!("several conversations are called {reference:?}: give its id"))),
    }
}

/// A workspace by id or name (among yours).
async fn resolve_workspace(api: &Api, reference: &str) -> Result<String> {
    if reference.parse::<i64>().is_ok() {
        return Ok(reference.to_owned());
    }
    let list: WorkspaceList = api.get("/workspaces").await?;
    let found: Vec<_> = list.workspaces.iter().filter(|w| w.name.eq_ignore_ascii_case(reference)).collect();
    match found.as_slice() {
        [one] => Ok(one.id.to_string()),
        [] => Err(CliError::Api {
            code: salon_protocol::ErrorCode::NotFound,
            message: format!("no workspace of yours is called {reference:?}"),
        }),
        _ => Err(CliError::Usage(format!("several workspaces are called {reference:?}: give its id"))),
    }
}
