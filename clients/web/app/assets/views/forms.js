// Form building blocks shared by every screen: labelled fields, the in-place error region,
// showing a server error next to the field it names (`field` of validation_failed), and
// disabling a submit button while its request runs.

import {h} from '../dom.js';

let seq = 0;
export const uid = (prefix) => `${prefix}-${++seq}`;

/** A labelled input (or textarea/select via `tag`), with a hint and an error line. */
export function field({label, hint, tag = 'input', name, options, ...attrs}) {
  const id = attrs.id || uid(name || 'f');
  const hintId = hint ? `${id}-hint` : null;
  const errId = `${id}-err`;
  let control;
  if (tag === 'select') {
    control = h('select', {id, name, ...attrs}, (options || []).map(([value, text]) => h('option', {value}, text)));
  } else {
    control = h(tag, {id, name, ...attrs});
  }
  control.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  const wrap = h('div', {class: 'field', 'data-field': name || ''},
    h('label', {for: id}, label),
    hint ? h('p', {class: 'hint', id: hintId}, hint) : null,
    control,
    h('p', {class: 'field-error', id: errId, hidden: true}));
  wrap.control = control;
  return wrap;
}

/** The error region of a form: announced when set. */
export function errorBox() {
  return h('div', {class: 'form-error', role: 'alert', hidden: true});
}

/** Shows an ApiError: on the field it names when the form has it, else in `box`. */
export function showApiError(form, box, error) {
  clearErrors(form, box);
  let message = error ? (error.message || String(error)) : '';
  if (message) message = message[0].toUpperCase() + message.slice(1);
  if (!message) return;
  const name = error.field;
  const wrap = name && form ? form.querySelector(`.field[data-field="${CSS.escape(name)}"]`) : null;
  if (wrap) {
    const line = wrap.querySelector('.field-error');
    line.textContent = message;
    line.hidden = false;
    wrap.control.setAttribute('aria-invalid', 'true');
    wrap.control.focus();
  } else {
    box.textContent = message;
    box.hidden = false;
  }
}

export function clearErrors(form, box) {
  if (box) { box.textContent = ''; box.hidden = true; }
  if (!form) return;
  for (const line of form.querySelectorAll('.field-error')) { line.textContent = ''; line.hidden = true; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/** Runs `work` with the button disabled and marked busy; returns its result. */
export async function busy(button, work, busyText) {
  const text = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (busyText) button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    if (busyText) button.textContent = text;
  }
}

/** A form whose submit handler gets the event prevented and errors shown in place. */
export function form(props, children, onSubmit) {
  const box = errorBox();
  const node = h('form', props, children, box);
  node.errorBox = box;
  node.addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = node.querySelector('button[type=submit]');
    clearErrors(node, box);
    try {
      await (submit ? busy(submit, () => onSubmit(node)) : onSubmit(node));
    } catch (err) {
      showApiError(node, box, err);
    }
  });
  return node;
}
