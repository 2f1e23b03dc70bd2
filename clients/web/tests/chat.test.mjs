// A workspace member and an external guest chat live in a thread, each in their own
// browser context. The guest is added from the member panel (by e-mail) and sees the
// thread appear without reloading; sees only that thread (no other conversation, no
// workspace directory); typing shows on the other side; the external badge is on the
// guest's messages and on the conversation. Then the member removes the guest in the
// member panel and the guest's window loses the thread at once, history included.
// Against a cluster (SALON_URL_2), the guest's browser is on another node than the member's.

import {BASE_2, api, apiRaw, check, createAccount, login, newPage, openAs, run, screenshot, uniqueEmail, waitFor} from './lib.mjs';

run('chat', async ({browser, track}) => {
  const ann = await createAccount('Ann Member', 'ann');
  const gus = await createAccount('Gus External', 'gus');
  const ws = await api('/workspaces', {method: 'POST', token: ann.token, body: {name: 'Acme Studio'}});
  const design = await api(`/workspaces/${ws.id}/groups`, {method: 'POST', token: ann.token, body: {name: 'Design team'}});
  const secret = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: ann.token, body: {subject: 'Internal pricing', groups: [design.id]}});
  const thread = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: ann.token, body: {subject: 'Website launch'}});
  await api(`/conversations/${secret.id}/messages`, {method: 'POST', token: ann.token, body: {body: 'Margins stay between us'}});
  await api(`/conversations/${thread.id}/messages`, {method: 'POST', token: ann.token, body: {body: 'Kick-off notes are in the doc'}});

  // Both log in through the log-in screen.
  const a = await newPage(browser, {label: 'ann'});
  // With SALON_URL_2 (a cluster), the guest's browser talks to another node.
  const g = await newPage(browser, {label: 'gus', base: BASE_2});
  track(a.page);
  track(g.page);
  await a.page.goto('/#/login');
  await a.page.getByRole('heading', {name: 'Log in to Salon'}).waitFor();
  await screenshot(a.page, 'login');
  await login(a.page, ann);
  await openAs(g.page, gus);
  await g.page.getByText('You are not in any workspace yet').waitFor();

  // Ann opens the thread and adds Gus by e-mail from the member panel.
  await a.page.locator(`a[data-conversation="${thread.id}"]`).click();
  await a.page.getByRole('heading', {name: 'Website launch'}).waitFor();
  await a.page.getByText('Kick-off notes are in the doc').waitFor();
  await a.page.getByRole('button', {name: 'People'}).click();
  const panel = a.page.getByRole('complementary', {name: 'Who can see this'});
  await panel.waitFor();
  await panel.getByRole('combobox', {name: 'Add people or groups'}).fill(gus.email);
  await panel.getByRole('button', {name: 'Add', exact: true}).click();
  await panel.getByText(/Added: .*e-mail sent/).waitFor();
  const gusRow = panel.locator('li.person', {hasText: 'Gus External'});
  await gusRow.waitFor();
  check(await gusRow.locator('.badge-external').isVisible(), 'the guest carries no external badge in the member panel');

  // Gus's window gets the thread live (no reload) and only that conversation.
  await g.page.evaluate(() => { window.__noReload = true; });
  const gusLink = g.page.locator(`a[data-conversation="${thread.id}"]`);
  await gusLink.waitFor({timeout: 10000});
  await gusLink.click();
  await g.page.getByRole('heading', {name: 'Website launch'}).waitFor();
  await g.page.getByText('Kick-off notes are in the doc').waitFor();
  check(await g.page.locator('a[data-conversation]').count() === 1, 'the guest sees more than the one thread');
  const gusSidebar = await g.page.getByRole('navigation', {name: 'Conversations'}).innerText();
  check(!gusSidebar.includes('Internal pricing') && !gusSidebar.includes('Design team'), 'the guest sees other conversations');
  check(!/People|Invitations|Audit log/.test(gusSidebar), 'the guest is offered the workspace directory');
  check(await g.page.getByText('Guest', {exact: true}).first().isVisible(), 'the guest is not told they are a guest');
  const dir = await apiRaw(`/workspaces/${ws.id}/members`, {token: gus.token});
  check(dir.status === 404, `the guest can read the workspace directory (${dir.status})`);

  // The conversation carries the external badge for Ann.
  await a.page.locator('.conv-head .badge-external').waitFor();
  check(await a.page.locator(`a[data-conversation="${thread.id}"] .ext-dot`).isVisible(), 'no external mark on the conversation in the list');

  // Live chat both ways, with the typing indicator.
  const annBox = a.page.getByRole('textbox', {name: 'Message Website launch'});
  const gusBox = g.page.getByRole('textbox', {name: 'Message Website launch'});
  await annBox.fill('Hello Gus, welcome aboard');
  await annBox.press('Enter');
  await g.page.locator('li.msg', {hasText: 'Hello Gus, welcome aboard'}).waitFor();
  await gusBox.pressSequentially('Thanks', {delay: 20});
  await a.page.getByText('Gus External is typing…').waitFor();
  await gusBox.press('Shift+Enter');
  await gusBox.pressSequentially('glad to be here', {delay: 5});
  await gusBox.press('Enter');
  const gusMsg = a.page.locator('li.msg', {hasText: 'glad to be here'});
  await gusMsg.waitFor();
  check((await gusMsg.locator('.msg-body').innerText()).includes('Thanks\nglad to be here'), 'Shift+Enter did not make a new line');
  check(await gusMsg.locator('.badge-external').isVisible(), 'no external badge on the guest\'s message');
  await waitFor(async () => (await a.page.getByText('Gus External is typing…').count()) === 0, {what: 'the typing line to clear once the message arrived'});
  await screenshot(a.page, 'thread-member');
  await screenshot(g.page, 'thread-guest');

  // An address without an account is invited and shows as pending.
  const newcomer = uniqueEmail('newcomer');
  await panel.getByRole('combobox', {name: 'Add people or groups'}).fill(newcomer);
  await panel.getByRole('button', {name: 'Add', exact: true}).click();
  const pending = panel.locator('li.person.pending', {hasText: newcomer});
  await pending.waitFor();
  check(await pending.getByText('Pending').isVisible(), 'the invited address is not marked pending');
  await screenshot(a.page, 'member-panel');

  // Ann removes Gus from the member panel.
  await gusRow.getByRole('button', {name: /Remove Gus External/}).click();
  await a.page.getByRole('dialog', {name: 'Remove Gus External?'}).getByRole('button', {name: 'Remove'}).click();
  await panel.getByText('Gus External was removed.').waitFor();
  await waitFor(async () => (await panel.locator('li.person', {hasText: 'Gus External'}).count()) === 0, {what: 'Gus to leave the member panel'});

  // Gus's window loses the thread at once, with its history, without reloading.
  await g.page.getByText(/You no longer have access to “Website launch”/).waitFor({timeout: 5000});
  check(await g.page.locator('a[data-conversation]').count() === 0, 'the thread is still in the guest\'s list');
  const body = await g.page.locator('body').innerText();
  check(!body.includes('Kick-off notes') && !body.includes('Hello Gus, welcome aboard'), 'the thread\'s history is still on the guest\'s screen');
  check(await g.page.evaluate(() => window.__noReload === true), 'the guest\'s page was reloaded');
  const history = await apiRaw(`/conversations/${thread.id}/messages`, {token: gus.token});
  check(history.status === 404, `the guest can still read the history (${history.status})`);
  await screenshot(g.page, 'guest-removed');
});
