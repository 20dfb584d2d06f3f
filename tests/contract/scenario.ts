// A client generated from /openapi.json (openapi-typescript) driving the service through
// openapi-fetch: compiled under tsc --strict against the generated types, then run with
// node against a live server. Every call checks its status and the answer's content.
//
//   node scenario.js   with AGENTBASE_URL and AB_PLATFORM_KEY set; prints TAP
import createClient from "openapi-fetch";
import type { paths } from "./agentbase.js";

// The little of node this needs (no @types/node: the generated types are what is checked).
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const base = process.env.AGENTBASE_URL;
const platformKey = process.env.AB_PLATFORM_KEY;
if (!base || !platformKey) throw new Error("AGENTBASE_URL and AB_PLATFORM_KEY must be set");

let n = 0;
let failed = 0;
function ok(cond: boolean, what: string, detail?: unknown): void {
  n++;
  if (cond) {
    console.log(`ok ${n} - ${what}`);
  } else {
    failed++;
    console.log(`not ok ${n} - ${what}`);
    if (detail !== undefined) console.log(`# ${JSON.stringify(detail).slice(0, 600)}`);
  }
}
function must<T>(value: T | undefined, what: string, error?: unknown): T {
  if (value === undefined) {
    ok(false, what, error);
    throw new Error(`${what}: no answer`);
  }
  return value;
}

const run = Date.now().toString(36);
const platform = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${platformKey}` } });

async function main(): Promise<void> {
  // the platform creates a tenant, and a key for it
  const t = await platform.POST("/v1/tenants", { body: { slug: `contract-${run}`, name: `Contract ${run}` } });
  const tenant = must(t.data, "create a tenant", t.error);
  ok(t.response.status === 201 && tenant.slug === `contract-${run}` && tenant.status === "active",
     "the platform creates a tenant (201, active)", tenant);
  const inTenant = { "Agentbase-Tenant": tenant.id };

  const k = await platform.POST("/v1/api-keys", {
    params: { header: inTenant },
    body: { name: "contract admin", scopes: ["admin", "usage:write", "usage:read"] },
  });
  const key = must(k.data, "create a key", k.error);
  ok(k.response.status === 201 && key.key.startsWith("ab_") && key.tenant_id === tenant.id,
     "the platform issues a key of the tenant, shown once", { ...key, key: "(hidden)" });
  const admin = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${key.key}` } });

  const who = await admin.GET("/v1/auth/whoami");
  ok(who.data?.tenant_id === tenant.id && who.data.role === "admin" && !who.data.platform_admin,
     "whoami: the key acts in its tenant as admin", who.data ?? who.error);

  // users, an agent, a conversation and its messages
  const users: string[] = [];
  for (const name of ["ada", "alan"]) {
    const u = await admin.POST("/v1/users", {
      body: { email: `${name}-${run}@example.com`, username: `${name}${run}`, role: "user",
              password: `correct horse ${name} staple` },
    });
    const user = must(u.data, `create user ${name}`, u.error);
    ok(u.response.status === 201 && user.email === `${name}-${run}@example.com` && user.role === "user",
       `create user ${name} (201)`, user);
    users.push(user.id);
  }
  const [ada] = users as [string, string];

  const a = await admin.POST("/v1/agents", {
    body: { name: `agent ${run}`, model_provider: "openai", model_name: "gpt-4o", temperature: 0.7, max_tokens: 1024 },
  });
  const agent = must(a.data, "create an agent", a.error);
  ok(a.response.status === 201 && agent.temperature === 0.7 && agent.max_tokens === 1024,
     "create an agent (201, with its numbers as numbers)", agent);

  const c = await admin.POST("/v1/conversations", { body: { user_id: ada, agent_id: agent.id, title: "hello" } });
  const conv = must(c.data, "create a conversation", c.error);
  ok(c.response.status === 201 && conv.user_id === ada && conv.agent_id === agent.id,
     "create a conversation for ada with the agent", conv);

  for (const [role, content] of [["user", "hello"], ["assistant", "hello, ada"]] as const) {
    const m = await admin.POST("/v1/conversations/{id}/messages", {
      params: { path: { id: conv.id } },
      body: { role, content, token_count: 3 },
    });
    ok(m.response.status === 201 && m.data?.role === role, `append the ${role}'s message`, m.data ?? m.error);
  }
  const ms = await admin.GET("/v1/conversations/{id}/messages", {
    params: { path: { id: conv.id }, query: { limit: 10, "role[in]": "user,assistant" } },
  });
  ok(ms.data?.data.length === 2 && ms.data.data.map((x) => x.sequence_number).join(",") === "1,2" &&
     ms.data.has_more === false && ms.data.next_cursor === null,
     "list the messages: two, numbered 1 and 2, one page", ms.data ?? ms.error);

  // tokens: the platform sets ada's level, which credits her wallet
  const l = await platform.POST("/v1/users/{id}/level", {
    params: { path: { id: ada }, header: inTenant },
    body: { level: "pro" },
  });
  ok(l.response.status === 200 && l.data !== undefined && "entry_type" in l.data && l.data.entry_type === "credit",
     "the platform sets ada's level to pro: a credit on her ledger", l.data ?? l.error);

  // a reservation, retried with its Idempotency-Key, then settled
  const idem = `contract-${run}-reserve`;
  const reserve = () => admin.POST("/v1/usage/reservations", {
    params: { header: { "Idempotency-Key": idem } },
    body: { user_id: ada, agent_id: agent.id, conversation_id: conv.id, provider: "openai", model: "gpt-4o",
            estimated_input_tokens: 1200, max_output_tokens: 800 },
  });
  const r1 = await reserve();
  const hold = must(r1.data, "reserve", r1.error);
  ok(r1.response.status === 201 && hold.status === "held" && hold.held_tokens === 2000 && hold.user_id === ada,
     "reserve 1200 + 800 tokens for ada (201, held)", hold);
  const r2 = await reserve();
  ok(r2.response.status === 201 && r2.data?.id === hold.id && r2.response.headers.get("Idempotent-Replayed") === "true",
     "the same Idempotency-Key gets the first answer again, marked Idempotent-Replayed", r2.data ?? r2.error);

  const s = await admin.POST("/v1/usage/reservations/{id}/settle", {
    params: { path: { id: hold.id } },
    body: { input_tokens: 1180, output_tokens: 412, latency_ms: 2300 },
  });
  ok(s.response.status === 200 && s.data?.status === "settled" && s.data.total_tokens === 1592 &&
     s.data.released_tokens === 2000 && s.data.cost_usd > 0,
     "settle it with the actual figures: 1592 tokens charged, the hold given back", s.data ?? s.error);
  const again = await admin.POST("/v1/usage/reservations/{id}/release", { params: { path: { id: hold.id } } });
  ok(again.response.status === 409 && again.error !== undefined,
     "a settled reservation cannot be released (409)", again.error);

  // what it all added up to
  const sum = await admin.GET("/v1/usage/summary", { params: { query: { group_by: "model" } } });
  const group = sum.data?.groups.find((g) => (g as { model?: string }).model === "gpt-4o");
  ok(sum.response.status === 200 && sum.data?.group_by === "model" && group !== undefined,
     "the usage summary by model has gpt-4o", sum.data ?? sum.error);

  const w = await admin.GET("/v1/token-wallets", { params: { query: { user_id: ada } } });
  const led = await admin.GET("/v1/token-ledger", {
    params: { query: { wallet_id: w.data?.data[0]?.id ?? "", order: "asc" } },
  });
  // one batch writes the reserve, the release and the debit: their order within it is the ids'
  const kinds = led.data?.data.map((e) => e.entry_type).sort().join(",");
  ok(led.response.status === 200 && led.data?.data[0]?.entry_type === "credit" && kinds === "credit,debit,release,reserve",
     "ada's ledger: the level's credit first, then the reserve, its release and the debit", led.data ?? led.error);
  const debit = led.data?.data.find((e) => e.entry_type === "debit");
  ok(debit !== undefined && debit.amount === 1592 && debit.held_after === 0 &&
     led.data?.data.every((e) => e.user_id === ada) === true,
     "the debit is the settled tokens, and nothing stays held", debit);
  ok(w.data?.data.length === 1 && w.data.data[0]?.balance === 10000000 - 1592 && w.data.data[0]?.held === 0,
     "ada's wallet: the allocation less the settled tokens", w.data ?? w.error);

  // errors come in the documented shape
  const bad = await admin.POST("/v1/agents", { body: { name: `agent ${run}`, temperature: 3 } as never });
  ok(bad.response.status === 400 && bad.error?.error.param === "temperature" && bad.error.error.type === "invalid_request_error",
     "an out-of-range field is a 400 naming it", bad.error);
}

main().then(
  () => {
    console.log(`1..${n}`);
    process.exit(failed ? 1 : 0);
  },
  (e: unknown) => {
    console.log(`not ok ${++n} - the scenario ran to its end`);
    console.log(`# ${String(e)}`);
    console.log(`1..${n}`);
    process.exit(1);
  },
);
