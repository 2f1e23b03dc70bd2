// Running a workspace from the browser: create a group (members picked by type-ahead), a
// thread addressed to that group, and a direct conversation; hand a departing client
// contact's groups and threads to their successor (client-group replace); read the
// audit log.

import {api, check, createAccount, newPage, openAs, run, screenshot, waitFor} from './lib.mjs';

run('workspace', async ({browser, track}) => {
  const olga = await createAccount('Olga Owner', 'olga');
  const mark = await createAccount('Mark Member', 'mark');
  const lena = await createAccount('Lena Leaving', 'lena');
  const sam = await createAccount('Sam Successor', 'sam');
  const ws = await api('/workspaces', {method: 'POST', token: olga.token, body: {name: 'Globex Partners'}});
  const [inv] = (await api(`/workspaces/${ws.id}/invitations`, {method: 'POST', token: olga.token, body: {invitations: [{email: mark.email, role: 'member'}]}})).invitations;
  await api(`/invitations/${inv.id}/accept`, {method: 'POST', token: mark.token});
  // Lena is the client's contact: in the client group and directly in a thread.
  const clientGroup = await api(`/workspaces/${ws.id}/groups`, {method: 'POST', token: olga.token, body: {name: 'Client: Initech'}});
  await api(`/groups/${clientGroup.id}/members`, {method: 'POST', token: olga.token, body: {email: lena.email}});
  const onboarding = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: olga.token, body: {subject: 'Initech onboarding'}});
  await api(`/conversations/${onboarding.id}/recipients`, {method: 'POST', token: olga.token, body: {email: lena.email}});

  const {page} = await newPage(browser, {label: 'olga'});
  track(page);
  await openAs(page, olga);

  // A group, with a member chosen by type-ahead.
  await page.getByRole('button', {name: 'New group in Globex Partners'}).click();
  let dialog = page.getByRole('dialog', {name: 'New group in Globex Partners'});
  await dialog.getByLabel('Group name').fill('Marketing');
  const members = dialog.getByRole('combobox', {name: 'Members (optional)'});
  await members.pressSequentially('Mar', {delay: 20});
  await dialog.getByRole('option', {name: /Mark Member/}).waitFor();
  await members.press('Enter');
  await dialog.locator('.chip', {hasText: 'Mark Member'}).waitFor();
  await dialog.getByRole('button', {name: 'Create group'}).click();
  await page.getByRole('heading', {name: 'Marketing'}).waitFor();
  const marketing = await waitFor(async () => {
    const list = await api('/conversations', {token: mark.token});
    return list.workspaces.flatMap((w) => w.conversations).find((c) => c.title === 'Marketing');
  }, {what: 'Mark to see the new group'});

  // A thread addressed to that group.
  await page.getByRole('button', {name: 'New thread in Globex Partners'}).click();
  dialog = page.getByRole('dialog', {name: 'New thread in Globex Partners'});
  await dialog.getByLabel('Subject').fill('Campaign brief');
  const who = dialog.getByRole('combobox', {name: 'Who is it for?'});
  await who.pressSequentially('Marke', {delay: 20});
  await dialog.getByRole('option', {name: /Marketing/}).click();
  await dialog.locator('.chip', {hasText: 'Marketing'}).waitFor();
  await screenshot(page, 'new-thread-dialog');
  await dialog.getByRole('button', {name: 'Start thread'}).click();
  await page.getByRole('heading', {name: 'Campaign brief'}).waitFor();
  await page.getByRole('button', {name: 'People'}).click();
  const panel = page.getByRole('complementary', {name: 'Who can see this'});
  await panel.locator('details', {hasText: 'Marketing'}).getByText('Mark Member').waitFor();
  await page.keyboard.press('Escape');

  // A direct conversation.
  await page.getByRole('button', {name: 'New direct message in Globex Partners'}).click();
  dialog = page.getByRole('dialog', {name: 'Direct message in Globex Partners'});
  await dialog.getByRole('combobox', {name: 'Person'}).pressSequentially('Mark', {delay: 20});
  await dialog.getByRole('option', {name: /Mark Member/}).click();
  await dialog.getByRole('button', {name: 'Open conversation'}).click();
  await page.getByRole('heading', {name: 'Mark Member'}).waitFor();
  const box = page.getByRole('textbox', {name: 'Message Mark Member'});
  await box.fill('Quick question about the brief');
  await box.press('Enter');
  await waitFor(async () => {
    const list = await api('/conversations', {token: mark.token});
    const direct = list.workspaces.flatMap((w) => w.conversations).find((c) => c.kind === 'direct');
    return direct && direct.last_message && direct.last_message.body === 'Quick question about the brief';
  }, {what: 'Mark to receive the direct message'});
  check(marketing.kind === 'group', 'the new group is not a group');

  // Replace: Lena leaves the client, Sam takes over her group and thread.
  await page.getByRole('navigation', {name: 'Conversations'}).getByRole('link', {name: 'People', exact: true}).click();
  await page.getByRole('heading', {name: /Replace a person/}).waitFor();
  await page.getByLabel('Who is leaving?').selectOption({label: 'Lena Leaving (guest)'});
  const successor = page.getByRole('combobox', {name: 'Who takes over?'});
  await successor.fill(sam.email);
  await successor.press('Enter');
  await page.locator('.replace .chip', {hasText: sam.email}).waitFor();
  await screenshot(page, 'people-replace');
  await page.getByRole('button', {name: 'Hand over access'}).click();
  await page.getByRole('dialog', {name: 'Hand over access?'}).getByRole('button', {name: 'Hand over'}).click();
  await page.getByText(/Done: 1 group and 1 thread handed from Lena Leaving/).waitFor();
  const samSees = (await api('/conversations', {token: sam.token})).workspaces.flatMap((w) => w.conversations).map((c) => c.id).sort();
  check(JSON.stringify(samSees) === JSON.stringify([clientGroup.id, onboarding.id].sort()), `the successor sees ${samSees}`);
  const lenaSees = (await api('/conversations', {token: lena.token})).workspaces.flatMap((w) => w.conversations);
  check(lenaSees.length === 0, 'the leaver kept access');

  // The audit log tells the story.
  await page.getByRole('navigation', {name: 'Globex Partners administration'}).getByRole('link', {name: 'Audit log'}).click();
  const log = page.getByRole('table', {name: 'Audit log'});
  await log.getByText('access_replaced').waitFor();
  const text = await log.innerText();
  check(text.includes('Olga Owner invited') && text.includes('group_member_added'), `the audit log misses entries:\n${text}`);
  await screenshot(page, 'audit-log');
});
