//! `/api/v1/workspaces/*`: workspaces, their members and roles. A workspace the caller
//! is not a member of answers `not_found`, exactly like one that does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::ErrorBody;
use salon_protocol::rest::{
    ChangeRoleRequest, CreateWorkspaceRequest, Member, MemberList, Person, Role, UpdateWorkspaceRequest, Workspace,
    WorkspaceList,
};
use salon_protocol::{AccountId, WorkspaceId};

use super::{ApiJson, ApiPath, ApiResult, AppState, Caller};
use crate::store::WorkspaceRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(members))
        .routes(routes!(change_role, remove_member))
}

fn view((row, role): (WorkspaceRow, Role)) -> Workspace {
    Workspace {
        id: row.id,
        name: row.name,
        my_role: role,
        seats_used: row.seats_used,
        seat_limit: row.seat_limit,
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

/// Renames the workspace (owners, admins) and/or sets its seat limit (owners).
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
    let updated = state.services.workspaces.update(caller.id(), id, req.name.as_deref(), req.seat_limit).await?;
    Ok(Json(view(updated)))
}

/// The workspace's directory: its members (`external: false`) and its guests — people in
/// its conversations who are not members (`external: true`). Guests never see it.
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
    let (rows, guests) = state.services.workspaces.members(caller.id(), id).await?;
    let members = rows
        .into_iter()
        .map(|m| Member {
            account_id: m.account_id,
            display_name: m.display_name,
            email: m.email,
            role: m.role,
            external: false,
            joined_at: m.joined_at,
        })
        .collect();
    let externals = guests
        .into_iter()
        .map(|p| Person { account_id: p.account_id, display_name: p.display_name, external: true })
        .collect();
    Ok(Json(MemberList { members, externals }))
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
        (status = 409, body = ErrorBody, description = "seat_limit_reached, last_owner"),
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
/// themselves leaves the workspace; the last owner cannot.
#[utoipa::path(
    delete,
    path = "/api/v1/workspaces/{workspace_id}/members/{account_id}",
    tag = "workspaces",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path), ("account_id" = AccountId, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "forbidden"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "last_owner"),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, target)): ApiPath<(WorkspaceId, AccountId)>,
) -> ApiResult<StatusCode> {
    state.services.workspaces.remove_member(caller.id(), id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}
