// In-app routes, kept in the URL fragment so every screen has a link that survives a
// reload (and e-mailed "you were added" links, `/#/c/<id>`, open the conversation).
// Owns parsing and building those fragments; it renders nothing.

const ROUTES = [
  [/^#?\/?$/, () => ({name: 'home'})],
  [/^#\/c\/(\d+)$/, (m) => ({name: 'conversation', id: m[1]})],
  [/^#\/w\/(\d+)\/(people|invitations|audit)$/, (m) => ({name: m[2], ws: m[1]})],
  [/^#\/(login|signup|forgot)$/, (m) => ({name: m[1]})],
];

export function parse(hash = location.hash) {
  for (const [re, make] of ROUTES) {
    const m = hash.match(re);
    if (m) return make(m);
  }
  return {name: 'home'};
}

export const href = {
  home: () => '#/',
  conversation: (id) => `#/c/${id}`,
  people: (ws) => `#/w/${ws}/people`,
  invitations: (ws) => `#/w/${ws}/invitations`,
  audit: (ws) => `#/w/${ws}/audit`,
};

export function go(fragment) {
  if (location.hash === fragment) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = fragment;
}
