//! Groups, threads, direct conversations, messages, reactions, read markers, search,
//! contacts and profiles. Every conversation, message, group or person the caller may not
//! see answers `404 not_found`, exactly like one that does not exist.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::rest::{
    Accepted, AddMemberRequest, AddRecipientRequest, Audience, AudienceGroup, AuditEntry, Contact, ContactList,
    Conversation, ConversationList, CreateDirectRequest, CreateGroupRequest, CreateThreadRequest, EditMessageRequest,
    Group, GroupList, Message, MessagePage, PersonList, PostMessageRequest, Profile, ReadMarkerRequest, SearchHit,
    SearchResults, UpdateGroupRequest, UpdateThreadRequest, WorkspaceConversations,
};
use salon_protocol::{AccountId, ConversationId, ErrorBody, WorkspaceId};

use super::{ApiJson, ApiPath, ApiQuery, ApiResult, AppState, Caller};
use crate::domain::Invalid;
use crate::services::{self, HistoryQuery, NewPost, Recipient, Target};
use crate::store::MessageRow;
use crate::views::{audit_entry, conversation_view, group_view, message_views, one_message, pending_person, person};

/// How adding someone was answered: at once by account, or "an e-mail went out" by
/// address (whatever the address).
pub enum Added {
    Now,
    EmailSent,
}

impl axum::response::IntoResponse for Added {
    fn into_response(self) -> axum::response::Response {
        match self {
            Added::Now => StatusCode::NO_CONTENT.into_response(),
            Added::EmailSent => (StatusCode::ACCEPTED, Json(Accepted::email_sent())).into_response(),
        }
    }
}

fn exactly_one(field: &'static str, message: &str) -> services::Error {
    Invalid { field, message: message.into() }.into()
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group))
        .routes(routes!(group_members, add_group_member))
        .routes(routes!(remove_group_member))
        .routes(routes!(create_thread))
        .routes(routes!(open_direct))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation, update_thread))
        .routes(routes!(audience))
        .routes(routes!(add_recipient))
        .routes(routes!(remove_recipient_account))
        .routes(routes!(remove_recipient_group))
        .routes(routes!(history, post_message))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(add_reaction, remove_reaction))
        .routes(routes!(mark_read))
        .routes(routes!(search))
        .routes(routes!(contacts))
        .routes(routes!(profile))
}

// ---------------------------------------------------------------------------------------
// Groups

/// Groups of the workspace the caller may look at: all of them for owners, admins and
/// managers; the ones they belong to for everyone else.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{workspace_id}/groups",
    tag = "groups",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    responses((status = 200, body = GroupList), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
) -> ApiResult<Json<GroupList>> {
    let groups = state.services.conversations.list_groups(caller.id(), ws).await?;
    Ok(Json(GroupList { groups: groups.into_iter().map(group_view).collect() }))
}

/// Creates a group and its chat; the caller is its first member.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/groups",
    tag = "groups",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = CreateGroupRequest,
    responses(
        (status = 201, body = Group),
        (status = 403, body = ErrorBody, description = "read_only (lite)"),
        (status = 404, body = ErrorBody, description = "not_found: the workspace, or a member"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let group = state.services.conversations.create_group(caller.id(), ws, &req.name, &req.members).await?;
    Ok((StatusCode::CREATED, Json(group_view((group, true)))))
}

#[utoipa::path(
    get,
    path = "/api/v1/groups/{group_id}",
    tag = "groups",
    security(("session" = [])),
    params(("group_id" = ConversationId, Path)),
    responses((status = 200, body = Group), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> ApiResult<Json<Group>> {
    Ok(Json(group_view(state.services.conversations.group(caller.id(), id).await?)))
}

/// Renames or archives (read-only) a group.
#[utoipa::path(
    patch,
    path = "/api/v1/groups/{group_id}",
    tag = "groups",
    security(("session" = [])),
    params(("group_id" = ConversationId, Path)),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, body = Group),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<UpdateGroupRequest>,
) -> ApiResult<Json<Group>> {
    let updated = state.services.conversations.update_group(caller.id(), id, req.name.as_deref(), req.archived).await?;
    Ok(Json(group_view(updated)))
}

/// The group's members, each with `external` relative to the group's workspace, and (for
/// workspace members) the addresses invited that have not signed up yet.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{group_id}/members",
    tag = "groups",
    security(("session" = [])),
    params(("group_id" = ConversationId, Path)),
    responses((status = 200, body = PersonList), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn group_members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> ApiResult<Json<PersonList>> {
    let (people, invited) = state.services.conversations.group_members(caller.id(), id).await?;
    Ok(Json(PersonList {
        people: people.into_iter().map(person).collect(),
        invited: invited.into_iter().map(pending_person).collect(),
    }))
}

/// Adds a person to the group: they see the group's chat and every conversation
/// addressed to the group, history included. By `account_id` (a member or a contact):
/// `204`, done. By `email`: `202 {"status": "email_sent"}` whether or not the address has
/// an account — they are added and told, or invited to sign up for a free account and
/// shown as pending (`invited`) until they do.
#[utoipa::path(
    post,
    path = "/api/v1/groups/{group_id}/members",
    tag = "groups",
    security(("session" = [])),
    params(("group_id" = ConversationId, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 204, description = "added (by account_id)"),
        (status = 202, body = Accepted, description = "email_sent (by email)"),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "lite_limit_reached"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
        (status = 429, body = ErrorBody, description = "rate_limited: too many invitations"),
    )
)]
async fn add_group_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<Added> {
    match (req.account_id, req.email) {
        (Some(account), None) if req.message.is_none() => {
            state.services.conversations.add_group_member(caller.id(), id, account).await?;
            Ok(Added::Now)
        }
        (None, Some(email)) => {
            let invitations = &state.services.invitations;
            invitations.add_by_email(caller.id(), Target::Group, id, &email, req.message.as_deref()).await?;
            Ok(Added::EmailSent)
        }
        _ => {
            Err(exactly_one("account_id", "give exactly one of account_id and email (message goes with email)").into())
        }
    }
}

/// Removes an account from the group (or the caller leaves it). When this returns, the
/// account no longer sees anything it saw only through the group, history included, and
/// its open sockets were told. The answer is the audit entry: the removal's receipt.
#[utoipa::path(
    delete,
    path = "/api/v1/groups/{group_id}/members/{account_id}",
    tag = "groups",
    security(("session" = [])),
    params(("group_id" = ConversationId, Path), ("account_id" = AccountId, Path)),
    responses(
        (status = 200, body = AuditEntry, description = "the receipt"),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn remove_group_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, account)): ApiPath<(ConversationId, AccountId)>,
) -> ApiResult<Json<AuditEntry>> {
    let receipt = state.services.conversations.remove_group_member(caller.id(), id, account).await?;
    Ok(Json(audit_entry(receipt)))
}

// ---------------------------------------------------------------------------------------
// Threads and direct conversations

/// Starts a thread addressed to groups and accounts; the caller is a participant.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/threads",
    tag = "conversations",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = CreateThreadRequest,
    responses(
        (status = 201, body = Conversation),
        (status = 403, body = ErrorBody, description = "read_only (lite)"),
        (status = 404, body = ErrorBody, description = "not_found: the workspace, a group or an account"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn create_thread(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<CreateThreadRequest>,
) -> ApiResult<(StatusCode, Json<Conversation>)> {
    let conversations = &state.services.conversations;
    let created = conversations.create_thread(caller.id(), ws, &req.subject, &req.groups, &req.accounts).await?;
    let (summary, last) = conversations.summary(caller.id(), created.id).await?;
    Ok((StatusCode::CREATED, Json(conversation_view(summary, last, caller.id()))))
}

/// Opens the direct conversation with another account in this workspace (the same one
/// every time). Members write to members and to guests they share a conversation with;
/// guests write to their contacts.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{workspace_id}/direct",
    tag = "conversations",
    security(("session" = [])),
    params(("workspace_id" = WorkspaceId, Path)),
    request_body = CreateDirectRequest,
    responses(
        (status = 200, body = Conversation),
        (status = 403, body = ErrorBody, description = "read_only (lite)"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn open_direct(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<WorkspaceId>,
    ApiJson(req): ApiJson<CreateDirectRequest>,
) -> ApiResult<Json<Conversation>> {
    let conversations = &state.services.conversations;
    let row = conversations.open_direct(caller.id(), ws, req.account_id).await?;
    let (summary, last) = conversations.summary(caller.id(), row.id).await?;
    Ok(Json(conversation_view(summary, last, caller.id())))
}

/// Every conversation the caller can see, grouped by workspace, newest activity first,
/// with unread counts and the newest message.
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "conversations",
    security(("session" = [])),
    responses((status = 200, body = ConversationList), (status = 401, body = ErrorBody, description = "unauthenticated"))
)]
async fn list_conversations(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ConversationList>> {
    let (summaries, last) = state.services.conversations.list(caller.id()).await?;
    let mut last: BTreeMap<ConversationId, MessageRow> = last.into_iter().map(|m| (m.conversation_id, m)).collect();
    let mut workspaces: Vec<WorkspaceConversations> = Vec::new();
    for s in summaries {
        let ws = s.conversation.workspace_id;
        let entry = match workspaces.iter().position(|w| w.workspace_id == ws) {
            Some(i) => &mut workspaces[i],
            None => {
                workspaces.push(WorkspaceConversations {
                    workspace_id: ws,
                    workspace_name: s.workspace_name.clone(),
                    my_role: s.role,
                    conversations: vec![],
                });
                workspaces.last_mut().expect("just pushed")
            }
        };
        let newest = last.remove(&s.conversation.id);
        entry.conversations.push(conversation_view(s, newest, caller.id()));
    }
    Ok(Json(ConversationList { workspaces }))
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{conversation_id}",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> ApiResult<Json<Conversation>> {
    let (summary, last) = state.services.conversations.summary(caller.id(), id).await?;
    Ok(Json(conversation_view(summary, last, caller.id())))
}

/// Changes a thread's subject, or closes (`locked: true`) or reopens it.
#[utoipa::path(
    patch,
    path = "/api/v1/conversations/{conversation_id}",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    request_body = UpdateThreadRequest,
    responses(
        (status = 200, body = Conversation),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn update_thread(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<UpdateThreadRequest>,
) -> ApiResult<Json<Conversation>> {
    let conversations = &state.services.conversations;
    conversations.update_thread(caller.id(), id, req.subject.as_deref(), req.locked).await?;
    let (summary, last) = conversations.summary(caller.id(), id).await?;
    Ok(Json(conversation_view(summary, last, caller.id())))
}

/// Who can see this conversation: its direct participants and the groups that grant
/// access (with their members); for workspace members, also the addresses invited here
/// that have not signed up yet.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{conversation_id}/audience",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    responses((status = 200, body = Audience), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn audience(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
) -> ApiResult<Json<Audience>> {
    let (participants, groups, invited) = state.services.conversations.audience(caller.id(), id).await?;
    Ok(Json(Audience {
        invited: invited.into_iter().map(pending_person).collect(),
        participants: participants.into_iter().map(person).collect(),
        groups: groups
            .into_iter()
            .map(|(g, members)| AudienceGroup {
                id: g.group.id,
                name: g.group.title,
                members: members.into_iter().map(person).collect(),
            })
            .collect(),
    }))
}

/// Addresses the thread to one more group, account or address (exactly one of
/// `group_id`, `account_id`, `email`). By `email`: `202 {"status": "email_sent"}` whether
/// or not the address has an account — the person is added and told, or invited to sign
/// up for a free account and shown as pending (`invited`) until they do.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{conversation_id}/recipients",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    request_body = AddRecipientRequest,
    responses(
        (status = 204, description = "added (by group_id or account_id)"),
        (status = 202, body = Accepted, description = "email_sent (by email)"),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "lite_limit_reached"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
        (status = 429, body = ErrorBody, description = "rate_limited: too many invitations"),
    )
)]
async fn add_recipient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<AddRecipientRequest>,
) -> ApiResult<Added> {
    let recipient = match (req.group_id, req.account_id, req.email) {
        (Some(g), None, None) if req.message.is_none() => Recipient::Group(g),
        (None, Some(a), None) if req.message.is_none() => Recipient::Account(a),
        (None, None, Some(email)) => {
            let invitations = &state.services.invitations;
            invitations.add_by_email(caller.id(), Target::Thread, id, &email, req.message.as_deref()).await?;
            return Ok(Added::EmailSent);
        }
        _ => {
            let message = "give exactly one of group_id, account_id and email (message goes with email)";
            return Err(exactly_one("group_id", message).into());
        }
    };
    state.services.conversations.add_recipient(caller.id(), id, recipient).await?;
    Ok(Added::Now)
}

/// Takes an account off the thread (anyone may take themselves off). Access through a
/// group the thread is addressed to stays. When this returns, the account (if it lost
/// the thread) sees nothing more of it, history included, and its open sockets were
/// told. The answer is the audit entry: the removal's receipt.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{conversation_id}/recipients/accounts/{account_id}",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("account_id" = AccountId, Path)),
    responses(
        (status = 200, body = AuditEntry, description = "the receipt"),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn remove_recipient_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, account)): ApiPath<(ConversationId, AccountId)>,
) -> ApiResult<Json<AuditEntry>> {
    let receipt = state.services.conversations.remove_recipient(caller.id(), id, Recipient::Account(account)).await?;
    Ok(Json(audit_entry(receipt)))
}

/// Takes a group off the thread: its members lose the thread unless they keep another
/// path to it.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{conversation_id}/recipients/groups/{group_id}",
    tag = "conversations",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("group_id" = ConversationId, Path)),
    responses(
        (status = 200, body = AuditEntry, description = "the receipt"),
        (status = 403, body = ErrorBody, description = "forbidden, read_only"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn remove_recipient_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, group)): ApiPath<(ConversationId, ConversationId)>,
) -> ApiResult<Json<AuditEntry>> {
    let receipt = state.services.conversations.remove_recipient(caller.id(), id, Recipient::Group(group)).await?;
    Ok(Json(audit_entry(receipt)))
}

// ---------------------------------------------------------------------------------------
// Messages

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// Messages before this sequence (older).
    before: Option<i64>,
    /// Messages after this sequence (newer).
    after: Option<i64>,
    /// Messages around this sequence (it included).
    around: Option<i64>,
    /// 1 to 200; default 50.
    limit: Option<i64>,
}

/// A page of history, in sequence order. Without `before`, `after` or `around`: the
/// newest messages.
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{conversation_id}/messages",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), HistoryParams),
    responses(
        (status = 200, body = MessagePage),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> ApiResult<Json<MessagePage>> {
    let query = HistoryQuery { before: p.before, after: p.after, around: p.around, limit: p.limit };
    let page = state.services.messages.history(caller.id(), id, query).await?;
    Ok(Json(MessagePage {
        has_before: page.has_before,
        has_after: page.has_after,
        messages: message_views(page.messages, &page.extras, caller.id()),
    }))
}

/// Posts a message. A resend with the same `client_id` and body answers `200` with the
/// original; the same `client_id` with another body is `client_id_reused`.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{conversation_id}/messages",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    request_body = PostMessageRequest,
    responses(
        (status = 201, body = Message, description = "stored"),
        (status = 200, body = Message, description = "a resend: the message stored before"),
        (status = 403, body = ErrorBody, description = "read_only, conversation_locked"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 409, body = ErrorBody, description = "client_id_reused"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<PostMessageRequest>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let messages = &state.services.messages;
    let post = NewPost {
        conversation: id,
        body: req.body,
        client_id: req.client_id,
        reply_to: req.reply_to,
        mentions: req.mentions,
    };
    let (posted, new) = messages.post(caller.id(), post).await?;
    let page = messages.get(caller.id(), id, posted.seq).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(one_message(page, caller.id()))))
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{conversation_id}/messages/{seq}",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("seq" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, seq)): ApiPath<(ConversationId, i64)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(one_message(state.services.messages.get(caller.id(), id, seq).await?, caller.id())))
}

/// Edits one of the caller's own messages.
#[utoipa::path(
    patch,
    path = "/api/v1/conversations/{conversation_id}/messages/{seq}",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("seq" = i64, Path)),
    request_body = EditMessageRequest,
    responses(
        (status = 200, body = Message),
        (status = 403, body = ErrorBody, description = "forbidden, read_only, conversation_locked"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn edit_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, seq)): ApiPath<(ConversationId, i64)>,
    ApiJson(req): ApiJson<EditMessageRequest>,
) -> ApiResult<Json<Message>> {
    Ok(Json(one_message(state.services.messages.edit(caller.id(), id, seq, req.body).await?, caller.id())))
}

/// Deletes a message: one's own, or anyone's for the workspace's owners, admins and
/// managers. It stays as a tombstone (empty body, `deleted_at`) so sequences stay gapless.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{conversation_id}/messages/{seq}",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("seq" = i64, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "forbidden, read_only, conversation_locked"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, seq)): ApiPath<(ConversationId, i64)>,
) -> ApiResult<StatusCode> {
    state.services.messages.delete(caller.id(), id, seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds the caller's reaction (idempotent).
#[utoipa::path(
    put,
    path = "/api/v1/conversations/{conversation_id}/messages/{seq}/reactions/{emoji}",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("seq" = i64, Path), ("emoji" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "read_only, conversation_locked"),
        (status = 404, body = ErrorBody, description = "not_found"),
        (status = 422, body = ErrorBody, description = "validation_failed"),
    )
)]
async fn add_reaction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, seq, emoji)): ApiPath<(ConversationId, i64, String)>,
) -> ApiResult<StatusCode> {
    state.services.messages.react(caller.id(), id, seq, &emoji, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the caller's reaction.
#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{conversation_id}/messages/{seq}/reactions/{emoji}",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path), ("seq" = i64, Path), ("emoji" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "read_only, conversation_locked"),
        (status = 404, body = ErrorBody, description = "not_found"),
    )
)]
async fn remove_reaction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, seq, emoji)): ApiPath<(ConversationId, i64, String)>,
) -> ApiResult<StatusCode> {
    state.services.messages.react(caller.id(), id, seq, &emoji, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the caller's read marker forward (never back) and returns the conversation.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{conversation_id}/read",
    tag = "messages",
    security(("session" = [])),
    params(("conversation_id" = ConversationId, Path)),
    request_body = ReadMarkerRequest,
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ConversationId>,
    ApiJson(req): ApiJson<ReadMarkerRequest>,
) -> ApiResult<Json<Conversation>> {
    state.services.messages.mark_read(caller.id(), id, req.seq).await?;
    let (summary, last) = state.services.conversations.summary(caller.id(), id).await?;
    Ok(Json(conversation_view(summary, last, caller.id())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// Words; every one must occur.
    q: String,
    /// Only this workspace.
    workspace_id: Option<WorkspaceId>,
    /// 1 to 200; default 50.
    limit: Option<i64>,
}

/// Full-text search over the messages the caller can read, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    tag = "messages",
    security(("session" = [])),
    params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 422, body = ErrorBody, description = "validation_failed"))
)]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let hits = state.services.messages.search(caller.id(), &p.q, p.workspace_id, p.limit).await?;
    let out = hits
        .into_iter()
        .map(|(row, extras, workspace_id)| SearchHit {
            conversation_id: row.conversation_id,
            workspace_id,
            message: message_views(vec![row], &extras, caller.id()).remove(0),
        })
        .collect();
    Ok(Json(SearchResults { hits: out }))
}

// ---------------------------------------------------------------------------------------
// People

/// Everyone the caller shares a conversation with.
#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    tag = "people",
    security(("session" = [])),
    responses((status = 200, body = ContactList))
)]
async fn contacts(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ContactList>> {
    let contacts = state.services.conversations.contacts(caller.id()).await?;
    Ok(Json(ContactList {
        contacts: contacts.into_iter().map(|(account_id, display_name)| Contact { account_id, display_name }).collect(),
    }))
}

/// A person the caller shares a workspace or a conversation with.
#[utoipa::path(
    get,
    path = "/api/v1/people/{account_id}",
    tag = "people",
    security(("session" = [])),
    params(("account_id" = AccountId, Path)),
    responses((status = 200, body = Profile), (status = 404, body = ErrorBody, description = "not_found"))
)]
async fn profile(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> ApiResult<Json<Profile>> {
    let (account_id, display_name) = state.services.conversations.profile(caller.id(), id).await?;
    Ok(Json(Profile { account_id, display_name }))
}
