//! Invitations: into a workspace (one call for many addresses, or a CSV upload), their
//! list, resend and revoke; and the invitee's side — preview a link, accept it with an
//! account, or sign up for a free account from it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::rest::{
    AcceptedInvitation, AuditEntry, Invitation, InvitationList, InvitationPreview, InvitationSignupRequest,
    InviteRequest, Session, TokenRequest,
};
use salon_protocol::{ErrorBody, ErrorCode, InvitationId, WorkspaceId};

use super::accounts::session_view;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller, ClientAddr};
use crate::crypto::TokenHash;
use crate::domain::now_ms;
use crate::services::InviteEntry;
use crate::store::{AcceptOutcome, InvitationKey, InvitationRow};
use crate::views::{audit_entry, invitation_view};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        .routes(routes!(invite_csv))
        .routes(routes!(mine))
        .routes(routes!(resend))
        .routes(routes!(revoke))
        .routes(routes!(accept_by_id))
        .routes(routes!(preview))
        .routes(routes!(accept))
        .routes(routes!(sign_up))
}

fn list_view(rows: Vec<InvitationRow>) -> InvitationList {
    let now = now_ms();
    InvitationList { invitations: rows.into_iter().map(|r| invitation_view(r, now)).collect() }
}

fn accepted_view(outcome: AcceptOutcome) -> AcceptedInvitation {
    AcceptedInvitation { workspace_id: outcome.workspace_id, role: outcome.role, conversations: outcome.granted }
}

/// Invites many addresses into the workspace at once, each with a role, groups, threads
/// and a personal note; each gets an e-mail with a link. Owners, admins and managers
/// only, never above their own role. All or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/invitations",
    tag = "invitations",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = InviteRequest,
    responses(
        (status = 201, body = InvitationList),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found: the workspace, a group or a thread"),
        (status = 409, body = ErrorBody, description = "lite_limit_reached, conflict"),
        (status = 422, body = ErrorBody, description = "validation_failed (the message names the entry)"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InvitationList>)> {
    let entries = req
        .invitations
        .into_iter()
        .map(|i| InviteEntry { email: i.email, role: i.role, groups: i.groups, threads: i.threads, message: i.message })
        .collect();
    let rows = state.services.invitations.invite(caller.id(), ws, entries).await?;
    Ok((StatusCode::CREATED, Json(list_view(rows))))
}

/// The same as a batch invitation, from a CSV file (`Content-Type: text/csv`): one line
/// per address, `email,role,groups,threads,message`, an optional header line; groups and
/// threads separated by `;`, each by id or exact name; role defaults to `member`.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/invitations/csv",
    tag = "invitations",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 201, body = InvitationList),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "lite_limit_reached, conflict"),
        (status = 415, body = ErrorBody, description = "unsupported_media_type: not text/csv"),
        (status = 422, body = ErrorBody, description = "validation_failed (the message names the line)"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn invite_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<InvitationList>)> {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"));
    if !csv {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send the file as Content-Type: text/csv"));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, "the CSV file must be UTF-8 text"))?;
    let rows = state.services.invitations.invite_csv(caller.id(), ws, text).await?;
    Ok((StatusCode::CREATED, Json(list_view(rows))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `open` (pending and expired; the default) or `all` (accepted and revoked too).
    state: Option<String>,
}

/// The workspace's invitations, newest first: open ones (pending and expired), or all.
/// Owners, admins and managers only.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}/invitations",
    tag = "invitations",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path), ListQuery),
    responses(
        (status = 200, body = InvitationList),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<InvitationList>> {
    let all = match q.state.as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(_) => {
            let invalid = crate::domain::Invalid { field: "state", message: "must be open or all".into() };
            return Err(crate::services::Error::from(invalid).into());
        }
    };
    Ok(Json(list_view(state.services.invitations.list(caller.id(), ws, all).await?)))
}

/// Invitations into workspaces waiting for the caller (sent to their address).
#[utoipa::path(
    get,
    path = "/api/v1/invitations",
    tag = "invitations",
    security(("session" = [])),
    responses((status = 200, body = InvitationList), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn mine(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<InvitationList>> {
    Ok(Json(list_view(state.services.invitations.mine(&caller).await?)))
}

/// Sends the invitation again with a new link (the old one stops working) and a new
/// validity period. The workspace's owners, admins and managers, or the inviter.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/{invitation_id}/resend",
    tag = "invitations",
    security(("session" = [])),
    params(("invitation_id" = InvitationId, Path)),
    responses(
        (status = 200, body = Invitation),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "conflict: already accepted or revoked"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<Invitation>> {
    let row = state.services.invitations.resend(caller.id(), id).await?;
    Ok(Json(invitation_view(row, now_ms())))
}

/// Revokes a pending invitation: its link stops working and its pending memberships
/// disappear. Answers with the audit entry (the receipt).
#[utoipa::path(
    delete,
    path = "/api/v1/invitations/{invitation_id}",
    tag = "invitations",
    security(("session" = [])),
    params(("invitation_id" = InvitationId, Path)),
    responses(
        (status = 200, body = AuditEntry),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "conflict: already accepted or revoked"),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<AuditEntry>> {
    Ok(Json(audit_entry(state.services.invitations.revoke(caller.id(), id).await?)))
}

/// Accepts an invitation sent to the caller's own address (listed by
/// `GET /invitations`). Joins the workspace (a seat is checked now) and the granted
/// conversations.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/{invitation_id}/accept",
    tag = "invitations",
    security(("session" = [])),
    params(("invitation_id" = InvitationId, Path)),
    responses(
        (status = 200, body = AcceptedInvitation),
        (status = 404, body = ErrorBody, description = "not_found: unknown, expired, revoked, used, or not yours"),
        (status = 409, body = ErrorBody, description = "seat_limit_reached, lite_limit_reached"),
    )
)]
async fn accept_by_id(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InvitationId>,
) -> ApiResult<Json<AcceptedInvitation>> {
    let outcome = state.services.invitations.accept(&caller, InvitationKey::Id(id)).await?;
    Ok(Json(accepted_view(outcome)))
}

/// What an invitation link offers (workspace, role, conversations, who invited, their
/// note) and whether its address has an account — for whoever holds the link.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/preview",
    tag = "invitations",
    request_body = TokenRequest,
    responses(
        (status = 200, body = InvitationPreview),
        (status = 400, body = ErrorBody, description = "invalid_token: unknown, expired, revoked or used"),
    )
)]
async fn preview(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Json<InvitationPreview>> {
    let preview = state.services.invitations.preview(&req.token).await?;
    let i = invitation_view(preview.invitation.clone(), now_ms());
    Ok(Json(InvitationPreview {
        email: i.email,
        workspace_name: preview.invitation.workspace_name,
        role: i.role,
        invited_by: i.invited_by.map(|p| p.display_name).unwrap_or_default(),
        message: i.message,
        grants: i.grants,
        expires_at: i.expires_at,
        account_exists: preview.account_exists,
    }))
}

/// Accepts an invitation link with the caller's account, whose address must be the
/// invited one.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/accept",
    tag = "invitations",
    security(("session" = [])),
    request_body = TokenRequest,
    responses(
        (status = 200, body = AcceptedInvitation),
        (status = 400, body = ErrorBody, description = "invalid_token: unknown, expired, revoked, used, or for another address"),
        (status = 409, body = ErrorBody, description = "seat_limit_reached, lite_limit_reached"),
    )
)]
async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Json<AcceptedInvitation>> {
    let key = InvitationKey::Token(TokenHash::of(&req.token));
    Ok(Json(accepted_view(state.services.invitations.accept(&caller, key).await?)))
}

/// Creates an account for the invited address (the link proves it: no further e-mail),
/// accepts the invitation and every other guest invitation to the address, and returns
/// the first session. A guest invitation makes a free account: messaging in what it was
/// invited to, nothing else.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/signup",
    tag = "invitations",
    request_body = InvitationSignupRequest,
    responses(
        (status = 200, body = Session),
        (status = 400, body = ErrorBody, description = "invalid_token"),
        (status = 409, body = ErrorBody, description = "account_exists, seat_limit_reached, lite_limit_reached"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<InvitationSignupRequest>,
) -> ApiResult<Json<Session>> {
    let invitations = &state.services.invitations;
    let (session, _) = invitations.sign_up(&req.token, &req.display_name, req.password, from).await?;
    Ok(Json(session_view(session)))
}
