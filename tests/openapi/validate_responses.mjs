// validate_responses.mjs - hold recorded API answers to docs/openapi.yaml.
//
//   node tests/openapi/validate_responses.mjs <exchanges.jsonl> [openapi.yaml]
//
// The integration tests record every exchange when CHAT_RECORD=<file> is set
// (tests/integration/chatlib.py): one JSON line {method, path (no query),
// status, headers (a subset, lower-case names), body (text)}. Each exchange
// is matched to its path template and method, then to the response of its
// status (429 and 503 may come from the shared components RateLimited and
// Unavailable when the operation does not list them); its body is validated
// against the response schema (JSON Schema 2020-12, Ajv) and its recorded
// headers against the response's headers. Fails on any mismatch, on a path or
// method the spec does not have, and on a status it does not list. Prints the
// validated exchanges per operation and the operations no exchange reached.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// The headers chatlib.py records; others cannot be checked.
const RECORDED = new Set(['content-type', 'retry-after', 'idempotent-replayed', 'x-ratelimit-limit',
  'x-ratelimit-remaining', 'x-ratelimit-reset', 'www-authenticate', 'allow']);
const SHARED = { 429: 'RateLimited', 503: 'Unavailable' };
const MAX_SHOWN = 60;

function usage(msg) {
  console.error(`validate_responses: ${msg}\nusage: node validate_responses.mjs <exchanges.jsonl> [openapi.yaml]`);
  process.exit(2);
}

const recordFile = process.argv[2];
const specFile = process.argv[3] || path.join(ROOT, 'docs', 'openapi.yaml');
if (!recordFile) usage('no exchanges file given');

const spec = YAML.parse(readFileSync(specFile, 'utf8'), { maxAliasCount: -1 });
const base = ((spec.servers || [])[0]?.url || '').replace(/\/$/, '');

// Resolve a local $ref (responses, headers, parameters; not schemas).
function deref(obj) {
  const seen = new Set();
  while (obj && typeof obj.$ref === 'string') {
    if (seen.has(obj.$ref) || !obj.$ref.startsWith('#/')) throw new Error(`bad $ref ${obj.$ref}`);
    seen.add(obj.$ref);
    let cur = spec;
    for (const part of obj.$ref.slice(2).split('/')) {
      cur = cur?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    if (cur === undefined) throw new Error(`unresolved $ref ${obj.$ref}`);
    obj = cur;
  }
  return obj;
}

// ---- schemas: components.schemas become $defs of one schema "openapi:" ----
const SPEC_ID = 'https://chat.invalid/openapi.json';
function rewriteRefs(node, prefix) {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, prefix));
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'discriminator' && v && typeof v === 'object') {
      // Ajv checks oneOf by discriminator (precise errors) but refuses `mapping`.
      out[k] = { propertyName: v.propertyName };
    } else if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      out[k] = prefix + '#/$defs/' + v.slice('#/components/schemas/'.length);
    } else {
      out[k] = rewriteRefs(v, prefix);
    }
  }
  return out;
}

const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false,
  allowUnionTypes: true, allErrors: true, discriminator: true });
addFormats(ajv);
// OpenAPI's own schema keywords are annotations here.
for (const kw of ['example', 'xml', 'externalDocs']) ajv.addKeyword(kw);
ajv.addSchema({ $id: SPEC_ID, $defs: rewriteRefs(spec.components?.schemas || {}, '') });
try {
  ajv.getSchema(SPEC_ID); // compiles every component schema once, strictly
} catch (e) {
  console.error(`validate_responses: the spec's schemas do not compile: ${e.message}`);
  process.exit(1);
}
const compiled = new Map();
function validator(schema) {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(rewriteRefs(schema, SPEC_ID));
    compiled.set(schema, v);
  }
  return v;
}

// ---- operations ----
const ops = [];
for (const [template, item] of Object.entries(spec.paths || {})) {
  const names = [];
  const re = new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
    .replace(/\{([^}/]+)\}/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '$');
  for (const m of METHODS) {
    if (item[m]) ops.push({ key: `${m.toUpperCase()} ${template}`, method: m.toUpperCase(), template, re, params: names.length, op: item[m] });
  }
}

function findOp(method, p) {
  const i = p.indexOf(base + '/');
  if (i < 0) return { error: `path outside ${base}` };
  const rel = p.slice(i + base.length);
  const byPath = ops.filter((o) => o.re.test(rel));
  if (!byPath.length) return { error: 'no path of the spec matches' };
  const fewest = Math.min(...byPath.map((o) => o.params));
  const literal = byPath.filter((o) => o.params === fewest);
  const op = literal.find((o) => o.method === method) || byPath.find((o) => o.method === method);
  if (!op) return { error: `the spec has no ${method} on ${literal[0].template}` };
  return { op };
}

function headerValue(schema, text) {
  return schema && (schema.type === 'integer' || schema.type === 'number') && /^-?\d+(\.\d+)?$/.test(text)
    ? Number(text) : text;
}

function explain(errors) {
  let useful = errors.filter((e) => !['oneOf', 'anyOf', 'if', 'allOf', 'not'].includes(e.keyword));
  // The branches of a oneOf keyed by `type` (events) that do not apply.
  const branch = (e) => e.keyword === 'const' && /\/type$/.test(e.instancePath);
  if (useful.some((e) => !branch(e))) useful = useful.filter((e) => !branch(e));
  const list = (useful.length ? useful : errors)
    .map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''} (${e.schemaPath})`);
  return [...new Set(list)].slice(0, 8);
}

// A request to a path or method no route serves: chat-api answers 404
// not_found or 405 method_not_allowed with the error object; nothing else is
// acceptable there.
function checkUnrouted(ex, why) {
  const want = { 404: 'not_found', 405: 'method_not_allowed' }[ex.status];
  if (!want) return { key: `${ex.method} ?`, problems: [why] };
  const problems = [];
  let doc;
  try {
    doc = JSON.parse(ex.body ?? '');
  } catch (e) {
    return { key: 'unrouted', status: ex.status, problems: [`body is not JSON: ${e.message}`] };
  }
  const v = validator(spec.components.schemas.Error);
  if (!v(doc)) problems.push(...explain(v.errors));
  else if (doc.error.code !== want) problems.push(`error.code ${doc.error.code}, want ${want}`);
  return { key: 'unrouted', status: ex.status, problems };
}

function check(ex) {
  const problems = [];
  const found = findOp(ex.method, ex.path);
  if (found.error) return checkUnrouted(ex, found.error);
  const { op } = found;
  let resp = op.op.responses?.[String(ex.status)] ?? op.op.responses?.[`${String(ex.status)[0]}XX`];
  let shared = false;
  if (!resp && SHARED[ex.status] && spec.components?.responses?.[SHARED[ex.status]]) {
    resp = spec.components.responses[SHARED[ex.status]];
    shared = true;
  }
  if (!resp) resp = op.op.responses?.default;
  if (!resp) return { key: op.key, problems: [`status ${ex.status} is not in the spec (it lists ${Object.keys(op.op.responses || {}).join(', ')})`] };
  resp = deref(resp);
  const headers = ex.headers || {};

  // chat-push's answers carry no X-RateLimit-* (its limits are stream caps,
  // answered 429 with Retry-After): the spec's x-served-by says so.
  const pushServed = op.op['x-served-by'] === 'chat-push';
  for (const [name, h0] of Object.entries(resp.headers || {})) {
    const h = deref(h0);
    const lname = name.toLowerCase();
    if (!RECORDED.has(lname)) continue;
    if (pushServed && lname.startsWith('x-ratelimit-')) continue;
    if (!(lname in headers)) {
      if (h.required) problems.push(`header ${name} missing`);
      continue;
    }
    if (h.schema) {
      const v = validator(h.schema);
      if (!v(headerValue(h.schema, headers[lname]))) {
        problems.push(`header ${name}: ${JSON.stringify(headers[lname])}: ${explain(v.errors).join('; ')}`);
      }
    }
  }

  const body = ex.body ?? '';
  if (resp.content && Object.keys(resp.content).length) {
    const ctype = (headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const media = resp.content[ctype];
    if (!media) {
      problems.push(`Content-Type ${JSON.stringify(headers['content-type'] || '')}, the spec has ${Object.keys(resp.content).join(', ')}`);
    } else if (body.trim() === '') {
      problems.push('empty body');
    } else if (media.schema && ctype.endsWith('json')) {
      let doc;
      try {
        doc = JSON.parse(body);
      } catch (e) {
        problems.push(`body is not JSON: ${e.message}`);
      }
      if (doc !== undefined) {
        const v = validator(media.schema);
        if (!v(doc)) problems.push(...explain(v.errors));
      }
    }
  } else if (body.trim() !== '') {
    problems.push(`the spec has no body for ${ex.status}, got ${JSON.stringify(body.slice(0, 80))}`);
  }
  return { key: op.key, status: ex.status, shared, problems };
}

// ---- run ----
let text;
try {
  text = readFileSync(recordFile, 'utf8');
} catch (e) {
  usage(`cannot read ${recordFile}: ${e.message}`);
}
const lines = text.split('\n').filter((l) => l.trim());
if (!lines.length) usage(`no exchanges recorded in ${recordFile}`);

const counts = new Map(); // op key -> Map(status -> n)
const failures = [];
let validated = 0, noAnswer = 0, viaShared = 0;
lines.forEach((line, i) => {
  let ex;
  try {
    ex = JSON.parse(line);
  } catch (e) {
    failures.push({ where: `line ${i + 1}`, problems: [`not JSON: ${e.message}`] });
    return;
  }
  if (ex.status == null) {
    noAnswer++;
    return;
  }
  const r = check(ex);
  if (r.problems.length) {
    failures.push({ where: `line ${i + 1}: ${ex.method} ${ex.path} -> ${ex.status} [${r.key}]`,
      problems: r.problems, body: ex.body });
    return;
  }
  validated++;
  if (r.shared) viaShared++;
  if (!counts.has(r.key)) counts.set(r.key, new Map());
  const m = counts.get(r.key);
  m.set(r.status, (m.get(r.status) || 0) + 1);
});

console.log(`validate_responses: ${lines.length} exchanges in ${recordFile}, spec ${path.relative(process.cwd(), specFile) || specFile}`);
console.log('validated exchanges per operation (status x count):');
const width = Math.max(...ops.map((o) => o.key.length));
for (const o of ops) {
  const m = counts.get(o.key);
  const total = m ? [...m.values()].reduce((a, b) => a + b, 0) : 0;
  const detail = m ? [...m.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(' ') : '-';
  console.log(`  ${o.key.padEnd(width)} ${String(total).padStart(5)}  ${detail}`);
}
const unreached = ops.filter((o) => !counts.has(o.key)).map((o) => o.key);
console.log(`validated: ${validated} (${viaShared} by the shared 429/503 responses); without an answer (client-side errors, skipped): ${noAnswer}; failed: ${failures.length}`);
console.log(`operations reached: ${ops.length - unreached.length} of ${ops.length} (those with 0 above were not)`);
if (failures.length) {
  console.log(`\nFAILURES (${Math.min(failures.length, MAX_SHOWN)} of ${failures.length} shown):`);
  for (const f of failures.slice(0, MAX_SHOWN)) {
    console.log(`- ${f.where}`);
    for (const p of f.problems) console.log(`    ${p}`);
    if (f.body !== undefined) console.log(`    body: ${f.body.length > 400 ? f.body.slice(0, 400) + `...(${f.body.length} chars)` : f.body}`);
  }
  process.exit(1);
}
