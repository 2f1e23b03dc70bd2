// Losing the gateway and coming back without losing anything. The page's gateway socket
// goes through a Playwright WebSocket route the test controls: first the "server" closes
// it with 4012 (restarting) and refuses new sockets for a while; then the whole browser
// goes offline (REST fails too). Each time the app must show its reconnecting state,
// keep a message typed meanwhile (queued, then sent once, with the same client_id), and
// on reconnecting resume: every message posted while it was away arrives once, in order.

import {api, check, createAccount, newPage, openAs, run, screenshot, waitFor} from './lib.mjs';

run('reconnect', async ({browser, track}) => {
  const ann = await createAccount('Ann Reconnect', 'ann');
  const bob = await createAccount('Bob Sender', 'bob');
  const ws = await api('/workspaces', {method: 'POST', token: ann.token, body: {name: 'Flaky Networks Inc'}});
  const [inv] = (await api(`/workspaces/${ws.id}/invitations`, {method: 'POST', token: ann.token, body: {invitations: [{email: bob.email, role: 'member'}]}})).invitations;
  await api(`/invitations/${inv.id}/accept`, {method: 'POST', token: bob.token});
  const group = await api(`/workspaces/${ws.id}/groups`, {method: 'POST', token: ann.token, body: {name: 'Operations', members: [bob.id]}});
  const post = (body) => api(`/conversations/${group.id}/messages`, {method: 'POST', token: bob.token, body: {body}});

  const {context, page} = await newPage(browser, {label: 'ann'});
  track(page);

  // The gateway goes through a route the test can cut, and whose frames to the server
  // it can hold.
  let blocked = false;
  let holding = true;
  const held = [];
  let current = null;
  let sockets = 0;
  await page.routeWebSocket(/\/api\/v1\/gateway$/, (ws) => {
    if (blocked) {
      ws.close({code: 1011, reason: 'unreachable'});
      return;
    }
    sockets += 1;
    const server = ws.connectToServer();
    ws.onMessage((frame) => (holding ? held.push(frame) : server.send(frame)));
    current = {ws, server};
  });

  // 0. The page loads the conversation while its first socket is still saying `hello`,
  // and a message is stored in between: `ready` counts it and no event will bring it,
  // so the page must fetch it.
  await openAs(page, ann);
  await page.locator(`a[data-conversation="${group.id}"]`).click();
  await page.getByText('This is the beginning of “Operations”.').waitFor();
  await waitFor(() => sockets === 1 && held.length > 0, {what: 'the gateway socket\'s hello'});
  await post('before the drop');
  holding = false;
  for (const frame of held.splice(0)) current.server.send(frame);
  await page.locator('li.msg', {hasText: 'before the drop'}).waitFor();

  const banner = page.locator('#conn-banner');
  const bodyOf = async () => page.locator('ol.messages li.msg:not(.pending) .msg-body').allInnerTexts();
  const expectOnceInOrder = async (texts) => {
    await waitFor(async () => {
      const all = await bodyOf();
      return texts.every((t) => all.filter((x) => x === t).length === 1) && texts.every((t, i) => i === 0 || all.indexOf(texts[i - 1]) < all.indexOf(t));
    }, {timeout: 15000, what: `${texts.join(', ')} once each, in order`});
  };

  // 1. The server restarts (4012) and stays away for a moment.
  blocked = true;
  current.ws.close({code: 4012, reason: 'server restarting: reconnect'});
  current.server.close();
  await banner.locator('.conn-text', {hasText: 'Reconnecting'}).waitFor({timeout: 5000});
  await post('missed one');
  await post('missed two');
  await screenshot(page, 'reconnecting');
  blocked = false;
  await banner.getByText('Connected again.').waitFor({timeout: 20000});
  await expectOnceInOrder(['before the drop', 'missed one', 'missed two']);
  await waitFor(async () => !(await banner.isVisible()), {what: 'the banner to go away'});

  // 2. The network goes away: REST fails as well; a message typed meanwhile waits.
  blocked = true;
  await context.setOffline(true);
  current.ws.close({code: 1001, reason: 'network gone'});
  current.server.close();
  await banner.locator('.conn-text', {hasText: 'Reconnecting'}).waitFor({timeout: 5000});
  const box = page.getByRole('textbox', {name: 'Message Operations'});
  await box.fill('typed while offline');
  await box.press('Enter');
  await page.locator('li.msg.pending', {hasText: 'typed while offline'}).getByText(/waiting for the connection/).waitFor({timeout: 10000});
  await post('missed three');
  await post('missed four');
  await post('missed five');
  blocked = false;
  await context.setOffline(false);
  await banner.getByText('Connected again.').waitFor({timeout: 20000});
  await expectOnceInOrder(['missed two', 'missed three', 'missed four', 'missed five', 'typed while offline']);
  await waitFor(async () => (await page.locator('li.msg.pending').count()) === 0, {what: 'the queued message to be confirmed'});

  // The queued message was stored once, after what was missed.
  const stored = await api(`/conversations/${group.id}/messages?limit=50`, {token: ann.token});
  const bodies = stored.messages.map((m) => m.body);
  check(bodies.filter((b) => b === 'typed while offline').length === 1, `the queued message was stored ${bodies.filter((b) => b === 'typed while offline').length} times`);
  const onScreen = await bodyOf();
  check(JSON.stringify(onScreen) === JSON.stringify(bodies), `the screen differs from the history:\n${onScreen.join(' | ')}\n${bodies.join(' | ')}`);
  check(sockets >= 3, `expected at least 3 gateway sockets, saw ${sockets}`);
  await screenshot(page, 'reconnected');
});
