/**
 * Hostile inputs, as raw JSON text so that literals JSON.stringify cannot write (2^63, 1e309) reach
 * the server as sent. `legit` marks values some field could rightly accept: they are sent only where
 * the request cannot succeed for another reason (a foreign id, a taken slug), so nothing changes.
 */
export interface HostileValue {
  label: string;
  json: string;
  legit: boolean;
}

const text = (label: string, value: string, legit: boolean): HostileValue => ({ label, json: JSON.stringify(value), legit });

export const ONE_MEGABYTE_PLUS = 1_100_000;
export const DEPTH = 10_000;
export const sqlInjection = "'; drop table app_user; --";

export const bodyValues: HostileValue[] = [
  text('SQL injection', sqlInjection, true),
  text('SQL injection in double quotes', '" OR 1=1; select pg_sleep(5); --', true),
  text('control characters', '\u0001\u0007\b\u001b[31m\u007f\u0085', true),
  text('bidi override and zero-width', '\u202eevil\u200d\u2066', true),
  text('digits as a string', '123', true),
  text('NUL', 'a\u0000b', false),
  text('lone high surrogate', 'a\ud800', false),
  text('lone low surrogate', '\udfffb', false),
  { label: '10,000-deep array', json: `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`, legit: false },
  { label: '10,000-deep object', json: `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`, legit: false },
  { label: '2^63', json: '9223372036854775808', legit: false },
  { label: '-2^63 - 1', json: '-9223372036854775809', legit: false },
  { label: '1e309', json: '1e309', legit: false },
  { label: '-1e309', json: '-1e309', legit: false },
  { label: '-1', json: '-1', legit: true },
  { label: '0', json: '0', legit: true },
  { label: '1.5', json: '1.5', legit: true },
  { label: 'true', json: 'true', legit: true },
  { label: 'null', json: 'null', legit: true },
  { label: 'an array', json: '[1,"a"]', legit: true },
  { label: 'an object', json: '{"a":1}', legit: true },
];

export const hugeString: HostileValue = { label: '1 MB string', json: JSON.stringify('x'.repeat(ONE_MEGABYTE_PLUS)), legit: false };

export interface HostileBody {
  label: string;
  payload: string;
  contentType: string;
  legit: boolean;
}

const malformed = (label: string, payload: string): HostileBody => ({ label, payload, contentType: 'application/json', legit: false });

/** Whole request bodies; `base` is a body that would otherwise be accepted as far as validation goes. */
export function wholeBodies(base: string): HostileBody[] {
  return [
    malformed('unclosed object', '{'),
    malformed('missing value', '{"a":'),
    malformed('trailing comma', '{"a":1,}'),
    malformed('single quotes', "{'a':1}"),
    malformed('NaN literal', '{"a":NaN}'),
    malformed('undefined literal', '{"a":undefined}'),
    malformed('trailing garbage', `${base}garbage`),
    malformed('empty body', ''),
    malformed('a raw NUL byte', '\u0000'),
    malformed('invalid escape', '{"a":"\\x41"}'),
    malformed('unterminated string', '{"a":"\\ud800'),
    malformed('__proto__ key', '{"__proto__":{"admin":true}}'),
    malformed('constructor.prototype key', '{"constructor":{"prototype":{"admin":true}}}'),
    malformed('array body', '[]'),
    malformed('string body', '"text"'),
    malformed('number body', '123'),
    malformed('null body', 'null'),
    malformed('10,000-deep array body', `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`),
    malformed('10,000-deep object body', `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`),
    malformed('body over 1 MB', `{"a":${hugeString.json}}`),
    malformed('unknown field named like SQL', `${base.slice(0, -1)}${base === '{}' ? '' : ','}${JSON.stringify(sqlInjection)}:1}`),
    { label: 'JSON sent as text/plain', payload: base, contentType: 'text/plain', legit: false },
    { label: 'form encoding', payload: 'a=1', contentType: 'application/x-www-form-urlencoded', legit: false },
    { label: 'XML', payload: '<a>1</a>', contentType: 'application/xml', legit: false },
    { label: 'empty object', payload: '{}', contentType: 'application/json', legit: true },
  ];
}

/** Path segments, already URL-encoded as a client would send them. */
export const pathValues: string[] = [
  '0', '-1', '1.5', '1e309', '9223372036854775808', '0x10', '%201', '01', 'abc', 'null', '%5B%5D',
  encodeURIComponent(sqlInjection), '%00', encodeURIComponent('\u0001\u001b[31m'), '%2e%2e', encodeURIComponent('1 OR 1=1'),
];

/** Query values, URL-encoded; the unconstrained ones may rightly be searched for. */
export const queryValues: string[] = [
  '', '-1', '0', '1.5', '9223372036854775808', '1e309', '-1e309', 'abc', '2024-13-45', encodeURIComponent(sqlInjection), '%00',
  '%ED%A0%80', encodeURIComponent('\u0001\u202e\u200d'), encodeURIComponent('{"a":1}'), 'x'.repeat(ONE_MEGABYTE_PLUS),
];
