// Demo SPA for the BFF: no framework, no build step, no tokens.
// Every /api call carries `X-CSRF: 1` and the same-origin session cookie; everything shown
// is set with textContent or DOM properties, never parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  me: null, // from /auth/me
  apiUser: null, // the resource API's view of the caller (GET /api/me)
  products: [],
  next: null,
  selected: null, // product id
  households: [], // {id, name} created in this page (the API cannot list them)
};

// ---- DOM helpers ---------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== 'list') node[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function formValues(form) {
  const out = {};
  for (const field of form.elements) {
    if (!field.name) continue;
    if (field.type === 'checkbox') out[field.name] = field.checked;
    else if (field.type === 'number') out[field.name] = field.value === '' ? null : Number(field.value);
    else out[field.name] = field.value.trim() === '' ? null : field.value.trim();
  }
  return out;
}

function withoutNulls(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));
}

// ---- messages ------------------------------------------------------------------------

function showError(text) {
  $('error-text').textContent = text;
  show('error', true);
}

function clearError() {
  show('error', false);
}

function offerSignIn(text) {
  $('notice-text').textContent = text;
  show('notice', true);
}

class ApiError extends Error {
  constructor(status, body) {
    const code = body && typeof body === 'object' ? body.error : undefined;
    const description = body && typeof body === 'object'
      ? (body.error_description ?? body.detail ?? body.message) : undefined;
    super([`${status}`, code, description].filter(Boolean).join(' · '));
    this.status = status;
    this.code = code;
  }
}

// ---- HTTP ----------------------------------------------------------------------------

async function readBody(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: 'unexpected_response', error_description: text.slice(0, 200) };
  }
}

async function api(method, path, body) {
  const headers = { 'X-CSRF': '1', Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api${path}`, init);
  } catch (err) {
    throw new ApiError(0, { error: 'network_error', error_description: String(err.message ?? err) });
  }
  const data = await readBody(response);
  if (response.status === 401 && data && ['session_expired', 'unauthenticated'].includes(data.error)) {
    offerSignIn(data.error === 'session_expired'
      ? 'Your session has ended.'
      : 'You are not signed in.');
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function guarded(action) {
  clearError();
  try {
    return await action();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined; // notice shown
    showError(err instanceof ApiError ? `API error: ${err.message}` : String(err));
    return undefined;
  }
}

// ---- auth ----------------------------------------------------------------------------

function signIn() {
  const returnTo = window.location.pathname + window.location.search;
  window.location.assign(`/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
}

async function signOut() {
  clearError();
  let data = null;
  try {
    const response = await fetch('/auth/logout', {
      method: 'POST',
      headers: { 'X-CSRF': '1', Accept: 'application/json' },
      credentials: 'same-origin',
    });
    data = await readBody(response);
    if (!response.ok) throw new ApiError(response.status, data);
  } catch (err) {
    showError(`Sign-out failed: ${err.message}`);
    return;
  }
  if (data && typeof data.logout_url === 'string' && /^https?:\/\//.test(data.logout_url)) {
    window.location.assign(data.logout_url); // the provider's end-session page
  } else {
    renderSignedOut();
  }
}

async function loadMe() {
  const response = await fetch('/auth/me', {
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (response.status === 401) return null;
  if (!response.ok) throw new ApiError(response.status, await readBody(response));
  return readBody(response);
}

// ---- rendering -----------------------------------------------------------------------

function renderSignedOut() {
  state.me = null;
  show('loading', false);
  show('app', false);
  show('user-box', false);
  show('signed-out', true);
}

function renderUser(me) {
  const user = me.user ?? me;
  $('user-name').textContent = user.name ?? user.preferred_username ?? user.sub ?? '';
  $('user-email').textContent = user.email ?? '';
  const groups = Array.isArray(user.groups) ? user.groups : [];
  $('user-groups').replaceChildren(...groups.map((g) => el('span', {}, g)));
  show('user-box', true);
}

function renderHousehold(data) {
  const household = data?.household;
  const role = data?.user?.role;
  const admin = role === 'admin' ? ' · administrator: you see and manage everything' : '';
  $('household').textContent = household
    ? `Household: ${household.name} (${household.role})${admin}`
    : (admin ? `No household${admin}` : 'No household yet: ask an administrator to add you to one.');
}

function othersLabel() {
  // Admins see everyone's products; members see others' only through household sharing.
  return state.apiUser?.role === 'admin' ? ' (another user’s)' : ' (shared with you)';
}

function productItem(product) {
  const meta = [product.brand, product.category].filter(Boolean).join(' · ');
  const mine = state.apiUser && product.owner_id === state.apiUser.id;
  return el('li', {
    className: product.id === state.selected ? 'selected' : '',
    dataset: { testid: 'product', id: product.id },
  },
  el('div', {},
    el('button', {
      type: 'button',
      className: 'link',
      dataset: { testid: 'open-product' },
      onclick: () => selectProduct(product.id),
    }, product.name),
    el('div', { className: 'meta muted' }, meta, mine === false ? othersLabel() : '')),
  el('button', {
    type: 'button',
    className: 'danger',
    title: 'Delete product',
    dataset: { testid: 'delete-product-inline' },
    onclick: () => deleteProduct(product),
  }, 'Delete'));
}

function renderProducts() {
  $('products').replaceChildren(...state.products.map(productItem));
  show('products-empty', state.products.length === 0);
  show('more-products', Boolean(state.next));
}

async function loadProducts(more = false) {
  const params = new URLSearchParams({ limit: '50' });
  if (more && state.next) params.set('cursor', state.next);
  const page = await api('GET', `/products?${params}`);
  const items = Array.isArray(page) ? page : (page?.items ?? []);
  state.products = more ? [...state.products, ...items] : items;
  state.next = Array.isArray(page) ? null : (page?.next ?? null);
  renderProducts();
}

function inventoryRow(row) {
  const quantity = el('input', {
    type: 'number', min: '0', step: 'any', value: String(row.quantity),
    dataset: { testid: 'inventory-row-quantity' },
    'aria-label': 'Quantity',
  });
  const shared = el('input', {
    type: 'checkbox', checked: Boolean(row.is_household_shared),
    dataset: { testid: 'toggle-shared' },
    'aria-label': 'Shared with household',
    onchange: async () => {
      const done = await guarded(async () => {
        await api('PATCH', `/inventory/${encodeURIComponent(row.id)}`,
          { is_household_shared: shared.checked });
        return true;
      });
      if (!done) shared.checked = !shared.checked; // refused: show what is stored
    },
  });
  return el('tr', { dataset: { testid: 'inventory-row', id: row.id } },
    el('td', {}, quantity),
    el('td', {}, row.unit ?? ''),
    el('td', {}, row.location ?? ''),
    el('td', {}, row.expires_on ?? ''),
    el('td', {}, shared),
    el('td', {}, el('div', { className: 'row' },
      el('button', {
        type: 'button',
        dataset: { testid: 'save-inventory' },
        onclick: () => guarded(async () => {
          if (quantity.value === '') throw new Error('Quantity is required');
          await api('PATCH', `/inventory/${encodeURIComponent(row.id)}`,
            { quantity: Number(quantity.value) });
          await loadInventory();
        }),
      }, 'Save'),
      el('button', {
        type: 'button',
        className: 'danger',
        dataset: { testid: 'delete-inventory' },
        onclick: () => guarded(async () => {
          await api('DELETE', `/inventory/${encodeURIComponent(row.id)}`);
          await loadInventory();
        }),
      }, 'Delete'))));
}

async function loadInventory() {
  if (!state.selected) return;
  const data = await api('GET', `/products/${encodeURIComponent(state.selected)}/inventory?limit=200`);
  const rows = Array.isArray(data) ? data : (data?.items ?? []);
  $('inventory').replaceChildren(...rows.map(inventoryRow));
  show('inventory-empty', rows.length === 0);
}

async function selectProduct(id) {
  await guarded(async () => {
    const product = await api('GET', `/products/${encodeURIComponent(id)}`);
    state.selected = product.id;
    $('detail-title').textContent = product.name;
    const form = $('edit-product-form');
    for (const name of ['name', 'brand', 'category', 'notes']) {
      form.elements[name].value = product[name] ?? '';
    }
    show('detail', true);
    renderProducts();
    await loadInventory();
  });
}

async function deleteProduct(product) {
  if (!window.confirm(`Delete “${product.name}” and its inventory?`)) return;
  await guarded(async () => {
    await api('DELETE', `/products/${encodeURIComponent(product.id)}`);
    if (state.selected === product.id) {
      state.selected = null;
      show('detail', false);
    }
    await loadProducts();
  });
}

async function renderApp(me) {
  state.me = me;
  renderUser(me);
  show('loading', false);
  show('signed-out', false);
  show('app', true);
  await guarded(async () => {
    const data = await api('GET', '/me');
    state.apiUser = data?.user ?? null;
    renderHousehold(data);
    await loadProducts();
    const isAdmin = state.apiUser?.role === 'admin';
    show('admin', isAdmin);
    if (isAdmin) await loadUsers();
  });
}

// ---- administration (households) ---------------------------------------------------------

function householdPicker() {
  const select = el('select', { dataset: { testid: 'user-household' }, 'aria-label': 'Household' },
    el('option', { value: '' }, 'paste an id →'),
    ...state.households.map((h) => el('option', { value: h.id }, h.name)));
  const pasted = el('input', { placeholder: 'household id', size: 12, 'aria-label': 'Household id' });
  select.addEventListener('change', () => { pasted.hidden = select.value !== ''; });
  if (state.households.length) select.value = state.households[state.households.length - 1].id;
  pasted.hidden = select.value !== '';
  return { select, pasted, value: () => select.value || pasted.value.trim() };
}

function userRow(user) {
  const picker = householdPicker();
  const role = el('select', { dataset: { testid: 'user-household-role' }, 'aria-label': 'Role' },
    el('option', { value: 'member' }, 'member'),
    el('option', { value: 'owner' }, 'owner'));
  return el('tr', { dataset: { testid: 'user-row', subject: user.subject ?? '' } },
    el('td', {}, user.name ?? user.subject ?? ''),
    el('td', {}, user.email ?? ''),
    el('td', {}, user.role ?? ''),
    el('td', {}, el('div', { className: 'row' }, picker.select, picker.pasted, role)),
    el('td', {}, el('div', { className: 'row' },
      el('button', {
        type: 'button',
        dataset: { testid: 'assign-household' },
        onclick: () => guarded(async () => {
          const householdId = picker.value();
          if (!householdId) throw new Error('Choose or paste a household first');
          await api('PUT', `/admin/users/${encodeURIComponent(user.id)}/household`,
            { household_id: householdId, role: role.value });
          await refreshAfterMembershipChange();
        }),
      }, 'Assign'),
      el('button', {
        type: 'button',
        className: 'danger',
        dataset: { testid: 'remove-household' },
        onclick: () => guarded(async () => {
          await api('DELETE', `/admin/users/${encodeURIComponent(user.id)}/household`);
          await refreshAfterMembershipChange();
        }),
      }, 'Remove'))));
}

async function loadUsers() {
  const page = await api('GET', '/admin/users?limit=200');
  const users = Array.isArray(page) ? page : (page?.items ?? []);
  $('users').replaceChildren(...users.map(userRow));
}

async function refreshAfterMembershipChange() {
  const data = await api('GET', '/me'); // the admin may have moved themselves
  renderHousehold(data);
  await loadUsers();
}

// ---- wiring --------------------------------------------------------------------------

function wire() {
  $('sign-in').addEventListener('click', signIn);
  $('notice-sign-in').addEventListener('click', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('error-close').addEventListener('click', clearError);
  $('more-products').addEventListener('click', () => guarded(() => loadProducts(true)));

  $('product-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const created = await api('POST', '/products', withoutNulls(formValues(form)));
      form.reset();
      await loadProducts();
      if (created?.id) await selectProduct(created.id);
    });
  });

  $('edit-product-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const values = formValues(form);
      // An emptied optional field is cleared; the name is required.
      const updated = await api('PATCH', `/products/${encodeURIComponent(state.selected)}`, values);
      $('detail-title').textContent = updated?.name ?? values.name;
      await loadProducts();
    });
  });

  $('delete-product').addEventListener('click', () => {
    const product = state.products.find((p) => p.id === state.selected)
      ?? { id: state.selected, name: $('detail-title').textContent };
    deleteProduct(product);
  });

  $('household-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const created = await api('POST', '/admin/households', withoutNulls(formValues(form)));
      if (created?.id) state.households.push({ id: created.id, name: created.name });
      form.reset();
      await loadUsers();
    });
  });

  $('inventory-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const values = withoutNulls(formValues(form));
      await api('POST', `/products/${encodeURIComponent(state.selected)}/inventory`, values);
      form.reset();
      await loadInventory();
    });
  });
}

async function start() {
  wire();
  try {
    const me = await loadMe();
    if (me) await renderApp(me);
    else renderSignedOut();
  } catch (err) {
    renderSignedOut();
    showError(`Could not reach the BFF: ${err.message}`);
  }
}

start();
