// Validates recorded responses against the OpenAPI document, with ajv (JSON Schema 2020-12,
// which OpenAPI 3.1 schemas are) and ajv-formats: a tool that shares no code with the
// server. Each recorded line (tests/api/client.c, AB_RECORD_RESPONSES) is matched to its
// operation by method and path; its status must be one the operation lists, and its body
// must fit that status's schema. A path that no operation has must be the server's 404 or
// 405 (or the server's 413) in the Error shape; a 431 is libmicrohttpd's own HTML page.
//
//   node responses.mjs DOCUMENT RECORDS   prints TAP: one test per operation seen, and totals
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [docFile, recordFile] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docFile, "utf8"));
const records = readFileSync(recordFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema(doc, "openapi.json");

// Path templates, the most literal first, so that /v1/usage/summary beats /v1/usage/{id}.
const templates = Object.keys(doc.paths).map((p) => {
  const segs = p.split("/");
  return { path: p, segs, literal: segs.filter((s) => !s.startsWith("{")).length };
}).sort((a, b) => b.literal - a.literal);

function match(method, path) {
  const segs = path.split("?")[0].split("/");
  for (const t of templates) {
    if (t.segs.length !== segs.length) continue;
    if (!t.segs.every((s, i) => s.startsWith("{") ? segs[i] !== "" : s === segs[i])) continue;
    const op = doc.paths[t.path][method.toLowerCase()];
    return { template: t.path, op };
  }
  return null;
}

const pointer = (parts) => "openapi.json#/" + parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
const validators = new Map();
function validator(parts) {
  const key = parts.join("\u0000");
  if (!validators.has(key)) validators.set(key, ajv.compile({ $ref: pointer(parts) }));
  return validators.get(key);
}

const byOp = new Map(); // "GET /v1/x" -> {n, failures: []}
let validated = 0, unmatched = 0, server = 0;
const failures = [];
function fail(rec, why) {
  failures.push(`${rec.method} ${rec.path} -> ${rec.status}: ${why}`);
}

for (const rec of records) {
  const m = match(rec.method, rec.path);
  const key = m && m.op ? `${rec.method} ${m.template}` : "(no operation)";
  if (!byOp.has(key)) byOp.set(key, { n: 0, failures: 0 });
  const entry = byOp.get(key);
  entry.n++;
  const before = failures.length;
  // libmicrohttpd's own answer to oversized headers, before any route: its HTML page
  if (rec.status === 431) {
    if (!String(rec.body).startsWith("<html>")) fail(rec, "a 431 that is not libmicrohttpd's page");
    server++;
    entry.failures += failures.length - before;
    continue;
  }
  if (!m || !m.op) {
    unmatched++;
    // the router's 404 and 405, and the server's 413 for a body too large on any path
    if (![404, 405, 413].includes(rec.status)) fail(rec, "no operation has this method and path");
    else if (!validator(["components", "schemas", "Error"])(JSON.parse(rec.body)))
      fail(rec, "not the Error shape: " + ajv.errorsText(validator(["components", "schemas", "Error"]).errors));
    entry.failures += failures.length - before;
    continue;
  }
  const status = String(rec.status);
  const response = m.op.responses[status];
  if (!response) {
    fail(rec, `status not documented (documented: ${Object.keys(m.op.responses).join(", ")}); body ${String(rec.body).slice(0, 300)}`);
  } else if (!response.content) {
    if (rec.body && rec.body.length) fail(rec, "a body where the document has none");
  } else {
    const media = Object.keys(response.content)[0];
    const type = (rec.content_type || "").split(";")[0].trim();
    if (type !== media) fail(rec, `content type ${type}, documented ${media}`);
    if (rec.content_encoding) {
      // compressed bodies are checked by the openapi scripts, not here
    } else if (media === "application/json") {
      let body;
      try {
        body = JSON.parse(rec.body);
      } catch (e) {
        fail(rec, "the body is not JSON");
      }
      if (body !== undefined) {
        const v = validator(["paths", m.template, rec.method.toLowerCase(), "responses", status, "content", media, "schema"]);
        if (!v(body)) fail(rec, ajv.errorsText(v.errors) + "; body " + rec.body.slice(0, 400));
      }
    } else if (typeof rec.body !== "string") {
      fail(rec, "the body is not text");
    }
  }
  if (failures.length === before) validated++;
  entry.failures += failures.length - before;
}

const ops = [...byOp.keys()].sort();
console.log(`1..${ops.length + 1}`);
let i = 0;
for (const k of ops) {
  const e = byOp.get(k);
  console.log(`${e.failures ? "not ok" : "ok"} ${++i} - ${k}: ${e.n} responses fit the document`);
}
const opCount = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
console.log(`${failures.length ? "not ok" : "ok"} ${++i} - ${records.length} responses recorded, ${validated} validated against their operation (${unmatched} to no operation, in the Error shape; ${server} libmicrohttpd's 431), ${byOp.size - (byOp.has("(no operation)") ? 1 : 0)} of ${opCount} operations seen`);
for (const f of failures.slice(0, 40)) console.log("# " + f);
if (failures.length > 40) console.log(`# ... and ${failures.length - 40} more`);
process.exit(failures.length ? 1 : 0);
