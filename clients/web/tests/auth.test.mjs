// Accounts in the browser: sign up through the form, follow the e-mailed /verify link
// into the app, create a first workspace, log out (another tab follows), see the server's
// message in place for a wrong password, reset the password through the e-mailed
// /reset-password link, and log in with the new one.

import {check, linkIn, newPage, PASSWORD, run, screenshot, uniqueEmail, waitForMail} from './lib.mjs';

run('auth', async ({browser, track}) => {
  const email = uniqueEmail('nora');
  const {context, page} = await newPage(browser, {label: 'nora'});
  track(page);

  // Sign up.
  await page.goto('/');
  await page.getByRole('heading', {name: 'Log in to Salon'}).waitFor();
  await page.getByRole('link', {name: 'Create an account'}).click();
  await page.getByLabel('Your name').fill('Nora New');
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill('short');
  const started = Date.now() - 1000;
  await page.getByRole('button', {name: 'Create my account'}).click();
  // The server's validation message, next to the field it names.
  await page.locator('.field[data-field=password] .field-error').waitFor();
  check((await page.locator('.field[data-field=password] .field-error').innerText()).includes('8'), 'the password error does not say what is wrong');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', {name: 'Create my account'}).click();
  await page.getByRole('heading', {name: 'Check your e-mail'}).waitFor();

  // Follow the verification link: straight into the app, token gone from the address bar.
  const verify = linkIn(await waitForMail(email, {after: started}), '/verify#token=');
  await page.goto(verify);
  await page.getByRole('button', {name: 'Confirm my address'}).click();
  await page.getByRole('heading', {name: 'Welcome, Nora New'}).waitFor();
  check(!page.url().includes('token='), 'the verification token stayed in the address bar');

  // A first workspace from the empty state.
  await page.getByRole('button', {name: 'Create a workspace'}).click();
  const dialog = page.getByRole('dialog', {name: 'Create a workspace'});
  await dialog.getByLabel('Workspace name').fill('Nora Consulting');
  await dialog.getByRole('button', {name: 'Create workspace'}).click();
  await page.getByRole('heading', {name: 'People'}).waitFor();
  await page.getByRole('heading', {name: 'Nora Consulting', level: 2}).waitFor();

  // Log out: this tab and another one of the same browser go back to the log-in screen.
  const other = await context.newPage();
  other.errors = [];
  other.label = 'nora-tab2';
  track(other);
  await other.goto('/');
  await other.getByRole('navigation', {name: 'Conversations'}).waitFor();
  await page.getByRole('button', {name: /account menu/}).click();
  await page.getByRole('button', {name: 'Log out'}).click();
  await page.getByRole('heading', {name: 'Log in to Salon'}).waitFor();
  await other.getByRole('heading', {name: 'Log in to Salon'}).waitFor();
  await other.close();

  // A wrong password: the server's message in place.
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password', {exact: true}).fill('not my password');
  await page.getByRole('button', {name: 'Log in'}).click();
  const alert = page.locator('.form-error');
  await alert.waitFor();
  check((await alert.innerText()).length > 5, 'no error shown for a wrong password');
  await screenshot(page, 'login-error');

  // Reset the password from the e-mailed link, then log in with the new one.
  await page.getByRole('link', {name: 'Forgot your password?'}).click();
  await page.getByLabel('E-mail address').fill(email);
  const resetAt = Date.now() - 1000;
  await page.getByRole('button', {name: 'Send me a reset link'}).click();
  await page.getByText('a reset link is on its way').waitFor();
  const reset = linkIn(await waitForMail(email, {after: resetAt, subject: /reset|password/i}), '/reset-password#token=');
  await page.goto(reset);
  await page.getByLabel('New password').fill('a brand new password');
  await page.getByRole('button', {name: 'Set my new password'}).click();
  await page.getByText('Your password is changed').waitFor();
  await page.getByRole('link', {name: 'Log in with it'}).click();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password', {exact: true}).fill('a brand new password');
  await page.getByRole('button', {name: 'Log in'}).click();
  await page.getByRole('navigation', {name: 'Conversations'}).waitFor();
  await page.getByRole('heading', {name: 'Nora Consulting'}).waitFor();
});
