//! `/api/v1/workspaces/*`: workspaces, their members and roles. A workspace the caller
//! is not a member of answers `not_found`, exactly like one that does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::ErrorBody;
use salon_protocol::rest::{
    AuditEntry, AuditPage, ChangeRoleRequest, CreateWorkspaceRequest, Member, MemberList, Person, ReplaceRequest,
    ReplaceResult, Role, UpdateWorkspaceRequest, Workspace, WorkspaceList,
};
use salon_protocol::{AccountId, AuditId, WorkspaceId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller};
use crate::domain::{Invalid, now_ms};
use crate::services::{self, SuccessorSpec};
use crate::store::WorkspaceRow;
use crate::views::{audit_entry, invitation_view};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(members))
        .routes(routes!(change_role, remove_member))
        .routes(routes!(audit_log))
        .routes(routes!(replace))
}

fn view((row, role): (WorkspaceRow, Role)) -> Workspace {
    Workspace {
        id: row.id,
        name: row.name,
        my_role: role,
        seats_used: row.seats_used,
        seat_limit: row.seat_limit,
        lite_grant_limit: row.lite_grant_limit,
        created_at: row.created_at,
    }
}

/// The workspaces the caller is a member of, with their role in each.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    security(("session" = [])),
    responses((status = 200, body = WorkspaceList), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<WorkspaceList>> {
    let rows = state.services.workspaces.list(caller.id()).await?;
    Ok(Json(WorkspaceList { workspaces: rows.into_iter().map(view).collect() }))
}

/// Creates a workspace; the caller becomes its owner.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    security(("session" = [])),
    request_body = CreateWorkspaceRequest,
    responses(
        (status = 201, body = Workspace),
        (status = 401, body = ErrorBody, description = "unauthenticated"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateWorkspaceRequest>,
) -> ApiResult<(StatusCode, Json<Workspace>)> {
    let created = state.services.workspaces.create(caller.id(), &req.name).await?;
    Ok((StatusCode::CREATED, Json(view(created))))
}

/// One workspace the caller is a member of.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    responses(
        (status = 200, body = Workspace),
        (status = 401, body = ErrorBody, description = "unauthenticated"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> ApiResult<Json<Workspace>> {
    Ok(Json(view(state.services.workspaces.get(caller.id(), id).await?)))
}

/// Renames the workspace (owners, admins) and/or sets its seat limit or lite grant limit
/// (owners).
#[utoipa::path(
    patch,
    path = "/api/v1/workspaces/{workspace_id}",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = UpdateWorkspaceRequest,
    responses(
        (status = 200, body = Workspace),
        (status = 403, body = ErrorBody, description = "forbidden"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "conflict: the limit is below the seats taken"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<UpdateWorkspaceRequest>,
) -> ApiResult<Json<Workspace>> {
    let updated = state
        .services
        .workspaces
        .update(caller.id(), id, req.name.as_deref(), req.seat_limit, req.lite_grant_limit)
        .await?;
    Ok(Json(view(updated)))
}

/// The workspace's directory: its members (`external: false`), its guests — people in
/// its conversations who are not members (`external: true`) — and, for owners, admins
/// and managers, the invited users (pending invitations). Guests never see it.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}/members",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    responses((status = 200, body = MemberList), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> ApiResult<Json<MemberList>> {
    let (rows, guests, invited) = state.services.workspaces.members(caller.id(), id).await?;
    let members = rows
        .into_iter()
        .map(|m| Member {
            account_id: m.account_id,
            display_name: m.display_name,
            email: m.email,
            role: m.role,
            external: false,
            grants: m.grants,
            joined_at: m.joined_at,
        })
        .collect();
    let externals = guests
        .into_iter()
        .map(|p| Person { account_id: p.account_id, display_name: p.display_name, external: true })
        .collect();
    let now = now_ms();
    let invited = invited.into_iter().map(|i| invitation_view(i, now)).collect();
    Ok(Json(MemberList { members, externals, invited }))
}

/// Changes a member's role (owners and admins; only owners grant or take away `owner`).
#[utoipa::path(
    patch,
    path = "/api/v1/workspaces/{workspace_id}/members/{account_id}",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path), ("account_id" = AccountId, Path)),
    request_body = ChangeRoleRequest,
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "forbidden"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "seat_limit_reached, last_owner, lite_limit_reached"),
    )
)]
async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, target)): ApiPath<(WorkspaceId, AccountId)>,
    ApiJson(req): ApiJson<ChangeRoleRequest>,
) -> ApiResult<StatusCode> {
    state.services.workspaces.change_role(caller.id(), id, target, req.role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (owners and admins; only owners remove an owner). A member removing
/// themselves leaves the workspace; the last owner cannot. They leave every group and
/// thread of the workspace at once (their sockets are told before this returns). The
/// answer is the audit entry: the removal's receipt.
#[utoipa::path(
    delete,
    path = "/api/v1/workspaces/{workspace_id}/members/{account_id}",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path), ("account_id" = AccountId, Path)),
    responses(
        (status = 200, body = AuditEntry, description = "the receipt"),
        (status = 403, body = ErrorBody, description = "forbidden"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "last_owner"),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, target)): ApiPath<(WorkspaceId, AccountId)>,
) -> ApiResult<Json<AuditEntry>> {
    let receipt = state.services.workspaces.remove_member(caller.id(), id, target).await?;
    Ok(Json(audit_entry(receipt)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries older than this one (the last id of the previous page).
    before: Option<AuditId>,
    /// 1 to 500 (default 100).
    limit: Option<i64>,
}

/// The workspace's audit log, newest first: every invitation, acceptance, role change,
/// addition and removal, with who did it and when. Owners and admins only.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}/audit",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path), AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let (rows, has_more) = state.services.workspaces.audit_log(caller.id(), id, q.before.map(|b| b.0), q.limit).await?;
    Ok(Json(AuditPage { entries: rows.into_iter().map(audit_entry).collect(), has_more }))
}

/// Client groups: hands a leaver's group memberships in the workspace, and their direct
/// access to threads the caller can see, to a successor in one step (owners, admins,
/// managers). The leaver loses them at once (sockets told before this returns); the
/// successor gains them, or — an address without an account — gets an invitation
/// carrying them.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/replace",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = ReplaceRequest,
    responses(
        (status = 200, body = ReplaceResult),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "lite_limit_reached"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> ApiResult<Json<ReplaceResult>> {
    let successor = match (req.successor_account_id, req.successor_email) {
        (Some(a), None) => SuccessorSpec::Account(a),
        (None, Some(e)) => SuccessorSpec::Email(e),
        _ => {
            let message = "give exactly one of successor_account_id and successor_email";
            return Err(
                services::Error::from(Invalid { field: "successor_account_id", message: message.into() }).into()
            );
        }
    };
    let (receipt, groups, threads) = state.services.invitations.replace(caller.id(), id, req.leaver, successor).await?;
    Ok(Json(ReplaceResult { receipt: audit_entry(receipt), groups, threads }))
}
