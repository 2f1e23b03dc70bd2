//! Request and response bodies of the REST API, grouped by resource.
//! Request types reject unknown fields; response types never carry secrets other than
//! the session token a log-in hands out.

use serde::{Deserialize, Serialize};

use crate::{AccountId, WorkspaceId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------
// Accounts and sessions

/// Sign up. The answer is the same whether or not the address already has an account:
/// an e-mail tells the owner of the address what to do next.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    /// 8 to 1,024 bytes.
    pub password: String,
    /// 1 to 64 characters, no control characters.
    pub display_name: String,
}

/// What sign-up and password-reset requests answer, whatever the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Accepted {
    /// Always `"check_your_email"`.
    pub status: String,
}

impl Accepted {
    pub fn check_your_email() -> Self {
        Accepted {
            status: "check_your_email".to_owned(),
        }
    }
}

/// A single-use token taken from an e-mailed link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A new session. Send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Session {
    pub token: String,
    /// Unix milliseconds after which the token stops working.
    pub expires_at: i64,
    pub account: Account,
}

/// The signed-in account, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub display_name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    pub display_name: String,
}

/// Change the password. Every other session of the account is signed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Set a new password from a reset link. Every session of the account is signed out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

// ---------------------------------------------------------------------------------------
// Workspaces

/// A role inside a workspace. `owner`, `admin`, `manager` and `member` take a seat;
/// `lite` (read-only) never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Member,
    Lite,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Member,
        Role::Lite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Lite => "lite",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role counts against the workspace's seat limit.
    pub fn takes_seat(self) -> bool {
        self != Role::Lite
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// 1 to 80 characters.
    pub name: String,
}

/// Change a workspace's name (owner, admin) or seat limit (owner). Absent fields are
/// left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub seat_limit: Option<u32>,
}

/// A workspace, as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// The caller's role in it.
    pub my_role: Role,
    /// Seats taken: owners, admins, managers and members.
    pub seats_used: u32,
    pub seat_limit: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceList {
    pub workspaces: Vec<Workspace>,
}

/// A person as a workspace shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Member {
    pub account_id: AccountId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// Whether the person is outside this workspace (a guest). Always `false` for
    /// workspace members; externals appear once conversations exist.
    pub external: bool,
    /// Unix milliseconds.
    pub joined_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Change a member's role (owners and admins; only owners grant or take away `owner`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    pub role: Role,
}

// ---------------------------------------------------------------------------------------
// Operations

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `"ok"` or `"unavailable"`.
    pub status: String,
}
