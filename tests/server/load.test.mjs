// A bounded load test: LOAD_CLIENTS (default 32) clients send requests for LOAD_SECONDS (default
// 60) on loopback, streamed and whole, completions and chat, with shared prefixes (reuse) and
// long prompts (chunked prefill between other sessions' decoding), against a KV budget that holds
// only a few of them. Checks: no answer but 200, 429 or 503 (the capacity errors, with their codes);
// every 200 equals the same request run alone before the load (greedy, and sampled with a seed);
// the admitted KV bytes never exceed the budget; the resident memory grows by at most the budget
// plus the connection threads' stacks.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { dirname } from "node:path";

import { MODEL, MODEL_ID, memory, metrics, postJson, sleep, startServer } from "./lib.mjs";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 32);
const BUDGET = 1 << 20;  // 1 MiB of KV: eight sessions of up to 260 tokens, two of 1024
const HTTP_THREADS = 8 + 16 + 8;  // --max-sessions + --max-queue + 8
const STACK_ALLOWANCE = HTTP_THREADS * 256 * 1024;  // touched stack and malloc arena per connection thread

const text = readFileSync(dirname(MODEL) + "/test.txt", "utf8");  // the shared model's held-out text
const long = text.slice(2000, 3400);  // ~400 tokens
const specs = [
  { prompt: "The kernel", max_tokens: 40 },
  { prompt: "The kernel module", max_tokens: 120, stream: true },
  { prompt: "The kernel module is loaded", max_tokens: 16 },
  { prompt: long, max_tokens: 64, stream: true },
  { prompt: long + " The driver", max_tokens: 24 },
  { prompt: "Python", max_tokens: 200, stream: true },
  { prompt: "A file system", max_tokens: 8 },
  { prompt: "Memory management", max_tokens: 600 },
  { prompt: "In this section", max_tokens: 50, temperature: 0.8, seed: 11 },
  { prompt: "The device", max_tokens: 90, temperature: 0.7, top_p: 0.9, seed: 5, stream: true },
  { chat: [{ role: "user", content: "What is a kernel?" }], max_tokens: 48 },
  { chat: [{ role: "system", content: "Be brief." }, { role: "user", content: "Explain modules." }], max_tokens: 100, stream: true },
];

let server;
const references = [];

before(async () => {
  server = await startServer([
    "--threads", "1", "--max-sessions", "8", "--max-queue", "16", "--queue-timeout", "5", "--kv-budget", String(BUDGET),
  ]);
  for (const spec of specs) {
    const r = await run(spec);
    assert.equal(r.status, 200, JSON.stringify(r));
    references.push(r.text);
  }
});

after(async () => assert.equal(await server.stop(), 0, server.stderr));

function body(spec) {
  const b = { model: MODEL_ID, max_tokens: spec.max_tokens, temperature: spec.temperature ?? 0, stream: !!spec.stream };
  if (spec.top_p) b.top_p = spec.top_p;
  if (spec.seed !== undefined) b.seed = spec.seed;
  if (spec.chat) b.messages = spec.chat;
  else b.prompt = spec.prompt;
  return b;
}

// One request; returns { status, text, code }.
async function run(spec) {
  const path = spec.chat ? "/v1/chat/completions" : "/v1/completions";
  if (!spec.stream) {
    const r = await postJson(server, path, body(spec));
    if (r.status !== 200) return { status: r.status, code: r.json?.error?.code };
    const c = r.json.choices[0];
    return { status: 200, text: spec.chat ? c.message.content : c.text };
  }
  const r = await fetch(server.url + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body(spec)),
  });
  if (r.status !== 200) return { status: r.status, code: (await r.json())?.error?.code };
  const raw = await r.text();
  let out = "";
  let done = false;
  for (const event of raw.split("\n\n")) {
    if (!event.startsWith("data: ")) continue;
    if (event === "data: [DONE]") {
      done = true;
      continue;
    }
    const j = JSON.parse(event.slice(6));
    if (j.error) return { status: 500, code: "stream_error: " + j.error.message };
    const c = j.choices[0];
    if (c) out += spec.chat ? c.delta.content ?? "" : c.text;
  }
  return done ? { status: 200, text: out } : { status: 500, code: "stream ended without [DONE]" };
}

test(`${CLIENTS} clients for ${SECONDS} s`, async () => {
  const start = await metrics(server);
  const baseline = memory(server).rss;
  const end = Date.now() + SECONDS * 1000;
  const counts = { ok: 0, refused: 0, mismatched: 0, errors: [] };
  let peakRss = baseline;
  let peakReserved = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, memory(server).rss);
      const m = await metrics(server);
      peakReserved = Math.max(peakReserved, m.veloxquant_kv_reserved_bytes, m['veloxquant_kv_bytes{key_format="tq4",value_format="tq3"}']);
      await sleep(100);
    }
  })();
  const client = async (id) => {
    for (let i = id; Date.now() < end; ++i) {
      const k = (i * 7 + id) % specs.length;
      const r = await run(specs[k]);
      if (r.status === 200) {
        if (r.text === references[k]) ++counts.ok;
        else {
          ++counts.mismatched;
          counts.errors.push(`request ${k}: ${JSON.stringify(r.text).slice(0, 80)} vs ${JSON.stringify(references[k]).slice(0, 80)}`);
        }
      } else if ((r.status === 503 && ["queue_full", "queue_timeout"].includes(r.code)) || (r.status === 429 && r.code === "kv_budget_exceeded")) {
        ++counts.refused;
        await sleep(200);  // a client backs off a little
      } else {
        counts.errors.push(`request ${k}: status ${r.status} ${r.code}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
  sampling = false;
  await sampler;
  const m = await metrics(server);
  const generated = m['veloxquant_tokens_total{kind="generated"}'] - start['veloxquant_tokens_total{kind="generated"}'];
  const steps = m.veloxquant_steps_total - start.veloxquant_steps_total;
  const batch = (m.veloxquant_step_sessions_total - start.veloxquant_step_sessions_total) / steps;
  console.log(`# ${counts.ok} identical, ${counts.refused} refused (429/503), ${counts.mismatched} different, ` +
    `${counts.errors.length} errors; ${generated} tokens generated (${(generated / SECONDS).toFixed(0)}/s), ` +
    `mean batch ${batch.toFixed(2)} sessions/step; reused ${m['veloxquant_tokens_total{kind="reused"}']} prompt tokens; ` +
    `RSS ${(baseline / 2 ** 20).toFixed(1)} → peak ${(peakRss / 2 ** 20).toFixed(1)} MiB; peak admitted KV ${peakReserved} of ${BUDGET}`);
  assert.deepEqual(counts.errors, []);
  assert.ok(counts.ok >= CLIENTS, `only ${counts.ok} requests completed`);
  assert.ok(peakReserved <= BUDGET, `admitted ${peakReserved} bytes of KV, budget ${BUDGET}`);
  assert.equal(m.veloxquant_kv_reservation_overruns_total, 0);
  assert.ok(peakRss - baseline <= BUDGET + STACK_ALLOWANCE,
    `RSS grew by ${peakRss - baseline} bytes, more than the budget ${BUDGET} + ${STACK_ALLOWANCE} for the threads`);
  assert.equal(m['veloxquant_sessions{state="active"}'], 0);
  assert.equal(m.veloxquant_queue_depth, 0);
});
