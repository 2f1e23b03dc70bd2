// The REST client and the session token. Owns: talking HTTP to /api/v1 (JSON in and out,
// the bearer token, turning error bodies into ApiError with the server's own message),
// and keeping the session in localStorage (shared by the tabs of this browser). It knows
// nothing of the screen: a revoked session is reported through `onSignedOut`.

const BASE = '/api/v1';
const KEY = 'salon.session';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let signedOutHandler = () => {};
export function onSignedOut(handler) { signedOutHandler = handler; }

export const session = {
  get token() { return localStorage.getItem(KEY); },
  set(token) { localStorage.setItem(KEY, token); },
  clear() { localStorage.removeItem(KEY); },
  KEY,
};

/**
 * Calls the API. `body` is sent as JSON unless `contentType` says otherwise (then as is).
 * Resolves with the parsed answer (null for 204); rejects with ApiError.
 */
export async function request(method, path, body, {contentType, auth = true, signal} = {}) {
  const headers = {Accept: 'application/json'};
  const token = session.token;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = contentType || 'application/json';
    payload = contentType ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, {method, headers, body: payload, signal, cache: 'no-store'});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const err = data && data.error;
    const retry = response.headers.get('Retry-After');
    let message = err ? err.message : `The server answered ${response.status}.`;
    if (response.status === 429 && retry) message += ` Try again in ${retry} s.`;
    const error = new ApiError(response.status, err ? err.code : 'http_' + response.status, message, err && err.field);
    if (error.code === 'unauthenticated' && auth && token && session.token === token) signedOutHandler();
    throw error;
  }
  return data;
}

const enc = encodeURIComponent;
const qs = (params) => {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${k}=${enc(v)}`);
  return parts.length ? '?' + parts.join('&') : '';
};

/** One function per endpoint the app uses, named after what it does. */
export const api = {
  // accounts
  signup: (email, password, display_name) => request('POST', '/auth/signup', {email, password, display_name}, {auth: false}),
  verify: (token) => request('POST', '/auth/verify', {token}, {auth: false}),
  login: (email, password) => request('POST', '/auth/login', {email, password}, {auth: false}),
  logout: () => request('POST', '/auth/logout'),
  requestReset: (email) => request('POST', '/auth/password-reset', {email}, {auth: false}),
  confirmReset: (token, new_password) => request('POST', '/auth/password-reset/confirm', {token, new_password}, {auth: false}),
  me: () => request('GET', '/me'),

  // workspaces
  workspaces: () => request('GET', '/workspaces'),
  workspace: (id) => request('GET', `/workspaces/${enc(id)}`),
  createWorkspace: (name) => request('POST', '/workspaces', {name}),
  members: (ws) => request('GET', `/workspaces/${enc(ws)}/members`),
  changeRole: (ws, account, role) => request('PATCH', `/workspaces/${enc(ws)}/members/${enc(account)}`, {role}),
  removeMember: (ws, account) => request('DELETE', `/workspaces/${enc(ws)}/members/${enc(account)}`),
  replace: (ws, body) => request('POST', `/workspaces/${enc(ws)}/replace`, body),
  audit: (ws, before) => request('GET', `/workspaces/${enc(ws)}/audit${qs({before, limit: 100})}`),

  // invitations
  invite: (ws, invitations) => request('POST', `/workspaces/${enc(ws)}/invitations`, {invitations}),
  inviteCsv: (ws, csv) => request('POST', `/workspaces/${enc(ws)}/invitations/csv`, csv, {contentType: 'text/csv'}),
  invitations: (ws, state) => request('GET', `/workspaces/${enc(ws)}/invitations${qs({state})}`),
  resendInvitation: (id) => request('POST', `/invitations/${enc(id)}/resend`),
  revokeInvitation: (id) => request('DELETE', `/invitations/${enc(id)}`),
  myInvitations: () => request('GET', '/invitations'),
  acceptMine: (id) => request('POST', `/invitations/${enc(id)}/accept`),
  previewInvitation: (token) => request('POST', '/invitations/preview', {token}, {auth: false}),
  acceptInvitation: (token) => request('POST', '/invitations/accept', {token}),
  signupFromInvitation: (token, display_name, password) => request('POST', '/invitations/signup', {token, display_name, password}, {auth: false}),

  // conversations
  conversations: () => request('GET', '/conversations'),
  conversation: (id) => request('GET', `/conversations/${enc(id)}`),
  updateThread: (id, body) => request('PATCH', `/conversations/${enc(id)}`, body),
  audience: (id) => request('GET', `/conversations/${enc(id)}/audience`),
  addRecipient: (id, body) => request('POST', `/conversations/${enc(id)}/recipients`, body),
  removeRecipientAccount: (id, account) => request('DELETE', `/conversations/${enc(id)}/recipients/accounts/${enc(account)}`),
  removeRecipientGroup: (id, group) => request('DELETE', `/conversations/${enc(id)}/recipients/groups/${enc(group)}`),
  groups: (ws) => request('GET', `/workspaces/${enc(ws)}/groups`),
  createGroup: (ws, name, members) => request('POST', `/workspaces/${enc(ws)}/groups`, {name, members}),
  updateGroup: (id, body) => request('PATCH', `/groups/${enc(id)}`, body),
  groupMembers: (id) => request('GET', `/groups/${enc(id)}/members`),
  addGroupMember: (id, body) => request('POST', `/groups/${enc(id)}/members`, body),
  removeGroupMember: (id, account) => request('DELETE', `/groups/${enc(id)}/members/${enc(account)}`),
  createThread: (ws, subject, groups, accounts) => request('POST', `/workspaces/${enc(ws)}/threads`, {subject, groups, accounts}),
  direct: (ws, account_id) => request('POST', `/workspaces/${enc(ws)}/direct`, {account_id}),
  contacts: () => request('GET', '/contacts'),
  search: (q, workspace_id) => request('GET', `/search${qs({q, workspace_id, limit: 50})}`),

  // messages
  messages: (id, params) => request('GET', `/conversations/${enc(id)}/messages${qs(params || {})}`),
  message: (id, seq) => request('GET', `/conversations/${enc(id)}/messages/${enc(seq)}`),
  post: (id, body) => request('POST', `/conversations/${enc(id)}/messages`, body),
  edit: (id, seq, body) => request('PATCH', `/conversations/${enc(id)}/messages/${enc(seq)}`, {body}),
  remove: (id, seq) => request('DELETE', `/conversations/${enc(id)}/messages/${enc(seq)}`),
  react: (id, seq, emoji) => request('PUT', `/conversations/${enc(id)}/messages/${enc(seq)}/reactions/${enc(emoji)}`),
  unreact: (id, seq, emoji) => request('DELETE', `/conversations/${enc(id)}/messages/${enc(seq)}/reactions/${enc(emoji)}`),
  markRead: (id, seq) => request('POST', `/conversations/${enc(id)}/read`, {seq}),
};
