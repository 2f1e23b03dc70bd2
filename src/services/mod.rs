//! The services: what Salon does, independent of how it is asked (REST today, the
//! WebSocket gateway later). Each service owns one part of the domain and its rules;
//! none of them knows HTTP. Every access decision goes through [`Membership`].

use std::sync::Arc;
use std::time::Duration;

use salon_protocol::ErrorCode;

use crate::bus::{Bus, BusError};
use crate::config::Config;
use crate::crypto::PasswordHasher;
use crate::domain::Invalid;
use crate::hub::Hub;
use crate::mail::Mailer;
use crate::store::{Store, StoreError};

mod accounts;
mod conversations;
mod invitations;
mod membership;
mod messages;
mod workspaces;

pub use accounts::{Accounts, Caller, NewSession};
pub use conversations::{AudienceRows, Conversations, Recipient};
pub use invitations::{Invitations, InviteEntry, Preview, SuccessorSpec, Target};
pub use membership::{Access, GroupAccess, Membership};
pub use messages::{HistoryQuery, Messages, NewPost, Page};
pub use workspaces::{Directory, Workspaces};

/// What a service can answer instead of a result. The transport maps each variant to one
/// documented error code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("no valid session")]
    Unauthenticated,
    #[error("wrong e-mail or password, or the address is not verified yet")]
    InvalidCredentials,
    #[error("this link is invalid, expired or already used")]
    InvalidToken,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("lite users read but never write")]
    ReadOnly,
    #[error("this conversation is read-only (a closed thread or an archived group)")]
    Locked,
    #[error("this client_id was already used for a message with another body")]
    ClientIdReused,
    #[error("too many attempts")]
    RateLimited(Duration),
    #[error("the workspace has no free seat for this role")]
    SeatLimitReached,
    #[error("the workspace must keep at least one owner")]
    LastOwner,
    #[error("a lite user may hold at most the workspace's lite grant limit of conversations (groups and threads)")]
    LiteLimitReached,
    #[error("this address already has an account: log in to accept the invitation")]
    AccountExists,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal: {0}")]
    Internal(StoreError),
}

impl Error {
    /// The documented code and the message a client sees. Internal errors are logged here
    /// with their detail and answered with a fixed message.
    pub fn code_and_message(&self) -> (ErrorCode, String) {
        let code = match self {
            Error::Invalid(_) => ErrorCode::ValidationFailed,
            Error::Unauthenticated => ErrorCode::Unauthenticated,
            Error::InvalidCredentials => ErrorCode::InvalidCredentials,
            Error::InvalidToken => ErrorCode::InvalidToken,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::NotFound => ErrorCode::NotFound,
            Error::ReadOnly => ErrorCode::ReadOnly,
            Error::Locked => ErrorCode::ConversationLocked,
            Error::ClientIdReused => ErrorCode::ClientIdReused,
            Error::RateLimited(_) => ErrorCode::RateLimited,
            Error::SeatLimitReached => ErrorCode::SeatLimitReached,
            Error::LastOwner => ErrorCode::LastOwner,
            Error::LiteLimitReached => ErrorCode::LiteLimitReached,
            Error::AccountExists => ErrorCode::AccountExists,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::Internal(inner) => {
                tracing::error!(error = %inner, "internal error");
                return (ErrorCode::Internal, "internal error".into());
            }
        };
        (code, self.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::AlreadyExists => Error::Conflict("already a member of this workspace"),
            StoreError::SeatLimitReached => Error::SeatLimitReached,
            StoreError::SeatLimitBelowUsed => Error::Conflict("the seat limit is below the seats already taken"),
            StoreError::LastOwner => Error::LastOwner,
            StoreError::OwnerProtected => Error::Forbidden("only an owner may grant, change or remove the owner role"),
            StoreError::LiteLimitReached => Error::LiteLimitReached,
            other => Error::Internal(other),
        }
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Error {
        match e {
            BusError::Unpublished => Error::Unavailable(
                "the change is recorded, but the other nodes could not be told yet (Redis is unreachable); \
                 it reaches them when Redis is back",
            ),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// All services, built once per process.
#[derive(Clone)]
pub struct Services {
    pub accounts: Arc<Accounts>,
    pub workspaces: Arc<Workspaces>,
    pub membership: Arc<Membership>,
    pub conversations: Arc<Conversations>,
    pub invitations: Arc<Invitations>,
    pub messages: Arc<Messages>,
    pub store: Arc<dyn Store>,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// How events reach sockets on every node.
    pub bus: Arc<Bus>,
}

impl Services {
    pub fn new(config: &Config, store: Arc<dyn Store>, mailer: Mailer, bus: Arc<Bus>) -> Services {
        let hub = bus.hub().clone();
        let hasher = PasswordHasher::new(config.auth.max_concurrent_hashes);
        let membership = Arc::new(Membership::new(store.clone()));
        let accounts = Arc::new(Accounts::new(config, store.clone(), hasher, mailer.clone(), bus.clone()));
        let conversations = Arc::new(Conversations::new(store.clone(), membership.clone(), bus.clone()));
        Services {
            invitations: Arc::new(Invitations::new(
                config,
                store.clone(),
                membership.clone(),
                conversations.clone(),
                accounts.clone(),
                mailer,
            )),
            accounts,
            workspaces: Arc::new(Workspaces::new(config, store.clone(), membership.clone(), bus.clone())),
            conversations,
            messages: Arc::new(Messages::new(config, store.clone(), membership.clone(), bus.clone())),
            membership,
            store,
            hub,
            bus,
        }
    }
}
