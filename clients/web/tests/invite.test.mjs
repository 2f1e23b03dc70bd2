// A workspace manager batch-invites two Lite clients from the invitation screen, with
// access to one thread, a personal message and the Lite cap shown; the pending list shows
// both. One invitee follows the e-mailed link in a fresh browser, signs up for an account
// and lands in Salon seeing exactly the granted thread, read-only. The manager then sees
// the Lite user's grants against the limit, and revokes the other invitation (its link
// stops working).

import {api, apiRaw, check, createAccount, linkIn, login, newPage, run, screenshot, uniqueEmail, waitFor, waitForMail} from './lib.mjs';

run('invite', async ({browser, track}) => {
  const owner = await createAccount('Olga Owner', 'olga');
  const mia = await createAccount('Mia Manager', 'mia');
  const ws = await api('/workspaces', {method: 'POST', token: owner.token, body: {name: 'Northwind Legal'}});
  const [inv] = (await api(`/workspaces/${ws.id}/invitations`, {method: 'POST', token: owner.token, body: {invitations: [{email: mia.email, role: 'manager'}]}})).invitations;
  await api(`/invitations/${inv.id}/accept`, {method: 'POST', token: mia.token});
  const report = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: owner.token, body: {subject: 'Q3 contract review', accounts: [mia.id]}});
  const other = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: owner.token, body: {subject: 'Partner compensation', accounts: [mia.id]}});
  await api(`/workspaces/${ws.id}/groups`, {method: 'POST', token: owner.token, body: {name: 'Associates', members: [mia.id]}});
  await api(`/conversations/${report.id}/messages`, {method: 'POST', token: owner.token, body: {body: 'Draft v2 is attached to the matter file.'}});
  await api(`/conversations/${other.id}/messages`, {method: 'POST', token: owner.token, body: {body: 'Not for clients.'}});

  // Mia (a manager) opens the invitation screen from the sidebar.
  const m = await newPage(browser, {label: 'mia'});
  track(m.page);
  await login(m.page, mia);
  await m.page.getByRole('link', {name: 'Invitations'}).click();
  await m.page.getByRole('heading', {name: 'Invite people to Northwind Legal'}).waitFor();
  check(await m.page.getByRole('link', {name: 'Audit log'}).count() === 0, 'a manager is offered the audit log');

  const first = uniqueEmail('client-a');
  const second = uniqueEmail('client-b');
  const form = m.page.locator('form.invite-form');
  await form.getByLabel('E-mail addresses').fill(`${first}, ${second}`);
  await form.getByText('2 addresses').waitFor();
  await form.getByLabel('Role').selectOption('lite');
  await form.getByText('Lite: choose at least one group or thread (up to 5).').waitFor();
  await form.getByRole('checkbox', {name: /Q3 contract review/}).check();
  await form.getByText('Lite: this invitation grants 1 of at most 5 conversations.').waitFor();
  await form.getByLabel('Personal message (optional)').fill('Welcome to the Q3 review. Read-only access for now.');
  const sentAt = Date.now() - 1000;
  await form.getByRole('button', {name: 'Send 2 invitations'}).click();
  await form.getByText(`Invitations sent to ${first}, ${second}.`).waitFor();

  // The pending list shows both, as Lite, with the thread.
  const table = m.page.locator('#pending-table');
  for (const email of [first, second]) {
    const row = table.locator(`tr[data-email="${email}"]`);
    await row.waitFor();
    const text = await row.innerText();
    check(text.includes('Lite (read-only)') && text.includes('Q3 contract review') && text.includes('Pending'), `pending row for ${email} is incomplete: ${text}`);
  }
  await screenshot(m.page, 'invitations');

  // The first invitee follows the e-mailed link in a fresh context and signs up.
  const mail = await waitForMail(first, {after: sentAt});
  const link = linkIn(mail, '/invite#token=');
  const c = await newPage(browser, {label: 'client'});
  track(c.page);
  await c.page.goto(link);
  await c.page.getByRole('heading', {name: 'Join Northwind Legal'}).waitFor();
  const offer = await c.page.locator('main').innerText();
  check(offer.includes('Mia Manager invited you') && offer.includes('Q3 contract review') && offer.includes('Welcome to the Q3 review'), `the invitation page misses details: ${offer}`);
  check(!offer.includes('Partner compensation'), 'the invitation page shows a conversation that was not granted');
  await screenshot(c.page, 'invite-landing');
  await c.page.getByLabel('Your name').fill('Carla Client');
  await c.page.getByLabel('Choose a password').fill('a long client password');
  await c.page.getByRole('button', {name: 'Create my account and join'}).click();

  // In Salon: exactly the granted thread, opened, read-only.
  await c.page.getByRole('navigation', {name: 'Conversations'}).waitFor();
  await c.page.getByRole('heading', {name: 'Q3 contract review'}).waitFor();
  await c.page.getByText('Draft v2 is attached to the matter file.').waitFor();
  const links = c.page.locator('a[data-conversation]');
  await waitFor(async () => (await links.count()) === 1, {what: 'exactly one conversation in the invitee\'s list'});
  check(await links.first().getAttribute('data-conversation') === report.id, 'the invitee sees another conversation than the granted one');
  const side = await c.page.getByRole('navigation', {name: 'Conversations'}).innerText();
  check(!side.includes('Partner compensation') && !side.includes('Associates'), 'the invitee sees conversations not granted');
  await c.page.getByText('You have Lite (read-only) access').waitFor();
  check(await c.page.getByRole('textbox', {name: /Message/}).count() === 0, 'a Lite user gets a composer');
  check(!/[?#&]token=/.test(c.page.url()), 'the token stayed in the address bar');
  await screenshot(c.page, 'invitee-lite');

  // Mia: the Lite user holds 1 of 5; the accepted invitation left the pending list.
  const tabs = m.page.getByRole('navigation', {name: 'Northwind Legal administration'});
  await tabs.getByRole('link', {name: 'People'}).click();
  const carla = m.page.locator('tr', {hasText: 'Carla Client'});
  await carla.waitFor();
  check((await carla.innerText()).includes('1 of 5'), `the Lite cap is not shown: ${await carla.innerText()}`);
  await tabs.getByRole('link', {name: 'Invitations'}).click();
  await table.locator(`tr[data-email="${second}"]`).waitFor();
  check(await table.locator(`tr[data-email="${first}"]`).count() === 0, 'an accepted invitation is still pending');

  // Revoke the second one: its row goes and its link stops working.
  const secondMail = await waitForMail(second, {after: sentAt});
  const secondToken = new URL(linkIn(secondMail, '/invite#token=')).hash.replace('#token=', '');
  await table.locator(`tr[data-email="${second}"]`).getByRole('button', {name: `Revoke the invitation to ${second}`}).click();
  await m.page.getByRole('dialog').getByRole('button', {name: 'Revoke'}).click();
  await m.page.getByText(`The invitation to ${second} was revoked`).waitFor();
  await m.page.locator('#no-pending').waitFor();
  const preview = await apiRaw('/invitations/preview', {method: 'POST', body: {token: secondToken}});
  check(preview.status === 400, `a revoked invitation link still works (${preview.status})`);

  // A CSV upload invites too.
  const fromCsv = uniqueEmail('csv');
  await m.page.getByText('Or upload a CSV file').click();
  await m.page.getByLabel('CSV file', {exact: true}).setInputFiles({name: 'clients.csv', mimeType: 'text/csv',
    buffer: Buffer.from(`email,role,groups,threads,message\n${fromCsv},lite,,Q3 contract review,From the spreadsheet\n`)});
  await m.page.getByRole('button', {name: 'Upload and invite'}).click();
  await m.page.getByText('1 invitation sent from clients.csv.').waitFor();
  const csvRow = table.locator(`tr[data-email="${fromCsv}"]`);
  await csvRow.waitFor();
  check((await csvRow.innerText()).includes('Q3 contract review'), 'the CSV invitation lacks its thread');

  // Someone who already has an account logs in from the link and accepts.
  const eve = await createAccount('Eve Existing', 'eve');
  const eveAt = Date.now() - 1000;
  await api(`/workspaces/${ws.id}/invitations`, {method: 'POST', token: mia.token, body: {invitations: [{email: eve.email, role: 'member', threads: [report.id]}]}});
  const e = await newPage(browser, {label: 'eve'});
  track(e.page);
  await e.page.goto(linkIn(await waitForMail(eve.email, {after: eveAt, subject: /invit/i}), '/invite#token='));
  await e.page.getByText(`${eve.email} already has a Salon account: log in to accept.`).waitFor();
  await e.page.getByLabel('Password').fill(eve.password);
  await e.page.getByRole('button', {name: 'Log in and accept'}).click();
  await e.page.getByRole('heading', {name: 'Q3 contract review'}).waitFor();
  await e.page.getByRole('textbox', {name: 'Message Q3 contract review'}).waitFor();
});
