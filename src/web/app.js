// The dashboard is a thin client of the public API: everything it shows, a curl can fetch too.
const $ = (selector) => document.querySelector(selector);
const storageKey = 'strata.key';

async function api(path) {
  const response = await fetch(`/v1${path}`, { headers: { authorization: `Bearer ${sessionStorage.getItem(storageKey)}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error?.code ?? response.status}: ${body.error?.message ?? ''}`);
  return body;
}

function showError(error) {
  $('#error').textContent = error ? String(error.message ?? error) : '';
  $('#error').hidden = !error;
}

function fill(section, rows, cells) {
  const body = $(`#${section} tbody`);
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement('tr');
    for (const value of cells(row)) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}

const isoDay = (date) => date.toISOString().slice(0, 10);

const views = {
  async overview() {
    const to = new Date();
    const from = new Date(to.getTime() - 29 * 86_400_000);
    const { data, etlRunIds } = await api(`/analytics/active-users?from=${isoDay(from)}&to=${isoDay(to)}`);
    const last = data.at(-1) ?? { dau: 0, wau: 0, mau: 0 };
    $('#dau').textContent = last.dau;
    $('#wau').textContent = last.wau;
    $('#mau').textContent = last.mau;
    $('#lineage').textContent = etlRunIds.length ? etlRunIds.join(', ') : 'none yet';
    const peak = Math.max(1, ...data.map((point) => point.dau));
    const points = data.map((point, index) => `${(index / Math.max(1, data.length - 1)) * 600},${115 - (point.dau / peak) * 110}`);
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points.join(' '));
    $('#dau-chart').replaceChildren(line);
  },
  async users(q = '') {
    const { data } = await api(q ? `/users?q=${encodeURIComponent(q)}` : '/users?limit=100');
    fill('users', data, (user) => [user.id, user.username, user.email, user.isActive ? 'yes' : 'no']);
  },
  async products() {
    const { data } = await api('/products?limit=100');
    fill('products', data, (product) => [product.id, product.name, product.price, product.tags.join(', ')]);
  },
  async activity() {
    const { data } = await api('/activities?limit=50');
    fill('activity', data, (row) => [new Date(row.createdAt).toLocaleString(), row.userId, row.type, JSON.stringify(row.metadata)]);
  },
  async audit() {},
};

async function open(view) {
  for (const button of document.querySelectorAll('nav button')) button.setAttribute('aria-pressed', String(button.dataset.view === view));
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== view;
  try {
    showError(null);
    await views[view]();
  } catch (error) {
    showError(error);
  }
}

async function start() {
  const signedIn = Boolean(sessionStorage.getItem(storageKey));
  $('#tenant').hidden = !signedIn;
  $('#login').hidden = signedIn;
  $('#logout').hidden = !signedIn;
  if (signedIn) await open('overview');
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault();
  sessionStorage.setItem(storageKey, $('#key').value.trim());
  try {
    await api('/api-keys?limit=1');
    await start();
  } catch (error) {
    sessionStorage.removeItem(storageKey);
    showError(error);
  }
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(storageKey);
  start();
});
for (const button of document.querySelectorAll('nav button')) button.addEventListener('click', () => open(button.dataset.view));
$('#user-search').addEventListener('submit', (event) => {
  event.preventDefault();
  views.users(new FormData(event.target).get('q')).catch(showError);
});
$('#audit-lookup').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    showError(null);
    const { data } = await api(`/audit?entity=${form.get('entity')}&entityId=${encodeURIComponent(form.get('entityId'))}`);
    fill('audit', data, (row) => [new Date(row.createdAt).toLocaleString(), row.action, row.actorId ?? '–',
      row.changes.map((change) => `${change.field}: ${JSON.stringify(change.old) ?? "–"} → ${JSON.stringify(change.new) ?? "–"}`).join('; ')]);
  } catch (error) {
    showError(error);
  }
});
start();
