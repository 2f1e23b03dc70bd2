// The conversation features between two members: history scroll-back that keeps the
// reading position, reactions, replies, edits and deletions arriving live on the other
// side, moderation by an owner, read markers clearing unread badges in another tab, the
// keyboard (Enter sends, Escape closes the panel and gives focus back, arrow keys move
// between messages) and the phone-width layout.

import {api, check, createAccount, login, newPage, openAs, run, screenshot, waitFor} from './lib.mjs';

const byBody = (page, text) => page.locator('li.msg').filter({has: page.locator('.msg-body', {hasText: text})});

run('messages', async ({browser, track}) => {
  const ann = await createAccount('Ann Owner', 'ann');
  const bob = await createAccount('Bob Member', 'bob');
  const ws = await api('/workspaces', {method: 'POST', token: ann.token, body: {name: 'Harbor Works'}});
  const [inv] = (await api(`/workspaces/${ws.id}/invitations`, {method: 'POST', token: ann.token, body: {invitations: [{email: bob.email, role: 'member'}]}})).invitations;
  await api(`/invitations/${inv.id}/accept`, {method: 'POST', token: bob.token});
  const general = await api(`/workspaces/${ws.id}/groups`, {method: 'POST', token: ann.token, body: {name: 'General', members: [bob.id]}});
  const side = await api(`/workspaces/${ws.id}/threads`, {method: 'POST', token: ann.token, body: {subject: 'Side project', accounts: [bob.id]}});
  for (let i = 1; i <= 130; i += 1) {
    await api(`/conversations/${general.id}/messages`, {method: 'POST', token: i % 2 ? ann.token : bob.token, body: {body: `History line ${i}`}});
  }
  await api(`/conversations/${general.id}/read`, {method: 'POST', token: ann.token, body: {seq: 130}});
  await api(`/conversations/${general.id}/read`, {method: 'POST', token: bob.token, body: {seq: 130}});

  const a = await newPage(browser, {label: 'ann'});
  const b = await newPage(browser, {label: 'bob'});
  track(a.page);
  track(b.page);
  await login(a.page, ann, `#/c/${general.id}`);
  await openAs(b.page, bob, `#/c/${general.id}`);

  // ---- scroll-back: older pages load at the top and the reading position stays.
  await a.page.locator('li.msg', {hasText: 'History line 130'}).waitFor();
  check(await a.page.locator('.msg-body', {hasText: /^History line 10$/}).count() === 0, 'the whole history was loaded at once');
  const timeline = a.page.locator('.timeline');
  const firstLoaded = async () => a.page.locator('ol.messages > li.msg').first().getAttribute('data-seq');
  const anchorSeq = await firstLoaded();
  await timeline.evaluate((el) => { el.scrollTop = 0; });
  await waitFor(async () => Number(await firstLoaded()) < Number(anchorSeq), {what: 'an older page to load when scrolled to the top'});
  const anchor = a.page.locator(`li.msg[data-seq="${anchorSeq}"]`);
  const top = await waitFor(async () => {
    const box = await anchor.boundingBox();
    const view = await timeline.boundingBox();
    return box && view ? {box, view} : null;
  }, {what: 'the anchor message'});
  check(top.box.y > top.view.y - 60 && top.box.y < top.view.y + 400, `the reading position jumped: the old first message is at ${top.box.y} (timeline top ${top.view.y})`);
  for (let i = 0; i < 6 && !(await a.page.getByText('This is the beginning of “General”.').isVisible()); i += 1) {
    await timeline.evaluate((el) => { el.scrollTop = 0; });
    await waitFor(async () => (await a.page.getByText('This is the beginning of “General”.').isVisible()) || Number(await firstLoaded()) < 80 - i * 50, {what: 'more history'});
  }
  await a.page.getByText('This is the beginning of “General”.').waitFor();
  await a.page.locator('.msg-body', {hasText: /^History line 1$/}).waitFor();
  const seqs = (await a.page.locator('ol.messages > li.msg').evaluateAll((els) => els.map((e) => Number(e.dataset.seq))));
  check(seqs.length === 130 && seqs.every((s, i) => s === i + 1), `the history is not complete and in order: ${seqs.length} messages`);

  // ---- Ann sends; Bob reacts, replies; Ann edits; Ann deletes Bob's message as moderator.
  const annBox = a.page.getByRole('textbox', {name: 'Message General'});
  await annBox.focus();
  await a.page.keyboard.type('Shipping the release on Friday');
  await a.page.keyboard.press('Enter');
  const bobView = byBody(b.page, 'Shipping the release on Friday');
  await bobView.waitFor();
  await bobView.hover();
  await bobView.getByRole('button', {name: 'Add reaction'}).click();
  await b.page.getByRole('button', {name: 'React with 🎉'}).click();
  const annMsg = byBody(a.page, 'Shipping the release on Friday');
  await annMsg.getByRole('button', {name: /🎉 1 reaction/}).waitFor();
  await annMsg.getByRole('button', {name: /🎉 1 reaction/}).click();
  await bobView.getByRole('button', {name: /🎉 2 reactions/}).waitFor();

  await bobView.hover();
  await bobView.getByRole('button', {name: 'Reply'}).click();
  await b.page.getByText('Replying to').waitFor();
  const bobBox = b.page.getByRole('textbox', {name: 'Message General'});
  await bobBox.fill('Friday works for QA');
  await bobBox.press('Enter');
  const reply = byBody(a.page, 'Friday works for QA');
  await reply.waitFor();
  check((await reply.locator('.msg-quote').innerText()).includes('Shipping the release on Friday'), 'the reply does not quote the message it answers');

  const annSeq = await annMsg.getAttribute('data-seq');
  const annMsgEl = a.page.locator(`li.msg[data-seq="${annSeq}"]`);
  await annMsgEl.hover();
  await annMsgEl.getByRole('button', {name: 'Edit'}).click();
  const editor = annMsgEl.getByRole('textbox', {name: 'Edit message'});
  await editor.fill('Shipping the release on Monday');
  await editor.press('Enter');
  const edited = byBody(b.page, 'Shipping the release on Monday');
  await edited.getByText('(edited)').waitFor();

  await reply.hover();
  await reply.getByRole('button', {name: 'Delete (moderate)'}).click();
  await a.page.getByRole('dialog', {name: 'Delete this message?'}).getByRole('button', {name: 'Delete'}).click();
  await b.page.locator(`li.msg.is-deleted`).getByText('This message was deleted.').waitFor();
  check(await b.page.getByText('Friday works for QA').count() === 0, 'the deleted message is still shown');
  await screenshot(a.page, 'conversation-features');

  // ---- unread badges follow read markers across tabs.
  const tab2 = await a.context.newPage();
  tab2.errors = [];
  tab2.label = 'ann-tab2';
  tab2.on('pageerror', (e) => tab2.errors.push(e.message));
  track(tab2);
  await tab2.goto(`/#/c/${general.id}`);
  await tab2.getByRole('heading', {name: 'General'}).waitFor();
  await api(`/conversations/${side.id}/messages`, {method: 'POST', token: bob.token, body: {body: 'Side note for Ann'}});
  const badge = (page) => page.locator(`a[data-conversation="${side.id}"] .unread-badge`);
  await badge(a.page).getByText('1').waitFor();
  await badge(tab2).getByText('1').waitFor();
  await tab2.locator(`a[data-conversation="${side.id}"]`).click();
  await tab2.getByText('Side note for Ann').waitFor();
  await waitFor(async () => (await badge(a.page).count()) === 0, {what: 'the unread badge to clear in the other tab'});
  await tab2.close();

  // ---- closing a thread makes it read-only for everyone, live.
  await b.page.locator(`a[data-conversation="${side.id}"]`).click();
  await b.page.getByRole('textbox', {name: 'Message Side project'}).waitFor();
  await a.page.locator(`a[data-conversation="${side.id}"]`).click();
  await a.page.getByRole('button', {name: 'Close thread'}).click();
  await a.page.getByRole('dialog', {name: 'Close this thread?'}).getByRole('button', {name: 'Close thread'}).click();
  await b.page.getByText('This thread is closed: nobody can post in it.').waitFor();
  check(await b.page.getByRole('textbox', {name: 'Message Side project'}).count() === 0, 'a closed thread keeps its composer');
  await a.page.getByRole('button', {name: 'Reopen thread'}).click();
  await b.page.getByRole('textbox', {name: 'Message Side project'}).waitFor();
  await a.page.locator(`a[data-conversation="${general.id}"]`).click();
  await a.page.getByRole('heading', {name: 'General'}).waitFor();

  // ---- keyboard: Escape closes the panel and focus returns to its button.
  const membersBtn = a.page.getByRole('button', {name: 'Members'});
  await membersBtn.click();
  await a.page.getByRole('complementary', {name: 'Group members'}).waitFor();
  await a.page.keyboard.press('Escape');
  await waitFor(async () => !(await a.page.locator('#panel').isVisible()), {what: 'Escape to close the panel'});
  check(await membersBtn.evaluate((el) => el === document.activeElement), 'focus did not return to the Members button');
  // Arrow keys move between messages; the focused one shows its actions.
  const last = a.page.locator('ol.messages > li.msg').last();
  await last.focus();
  await a.page.keyboard.press('ArrowUp');
  const focusedSeq = await a.page.evaluate(() => document.activeElement.dataset.seq);
  check(Number(focusedSeq) === Number(await last.getAttribute('data-seq')) - 1, 'ArrowUp did not move to the previous message');

  // ---- phone width: one column, list first, then the conversation with a way back.
  const p = await newPage(browser, {label: 'phone', width: 375, height: 740});
  track(p.page);
  await openAs(p.page, ann);
  check(await p.page.locator('#main').isHidden(), 'the main view shows beside the list on a phone');
  await screenshot(p.page, 'phone-list');
  await p.page.locator(`a[data-conversation="${general.id}"]`).click();
  await p.page.getByRole('heading', {name: 'General'}).waitFor();
  check(await p.page.locator('#sidebar').isHidden(), 'the list stays beside the conversation on a phone');
  const width = await p.page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, `the page is wider than the phone (${width}px)`);
  await screenshot(p.page, 'phone-conversation');
  await p.page.getByRole('button', {name: 'Members'}).click();
  await p.page.getByRole('complementary', {name: 'Group members'}).getByText('Bob Member').waitFor();
  await screenshot(p.page, 'phone-members');
  await p.page.getByRole('button', {name: 'Close group members'}).click();
  await p.page.getByRole('link', {name: 'Back to conversations'}).click();
  await p.page.locator('#sidebar').waitFor();
});
