// --session-dir across a restart: a conversation's session is saved when the server stops
// (SIGTERM), found again by the next server, and its continuation reuses the cached tokens and
// answers exactly as a server without the directory does.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { MODEL_ID, metrics, postJson, startServer } from "./lib.mjs";

const chat = (messages) => ({ model: MODEL_ID, messages, max_tokens: 40, temperature: 0 });

test("sessions survive a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vq-sessions-"));
  try {
    const args = ["--threads", "1", "--kv-budget", "16M", "--session-dir", dir];
    const first = [{ role: "user", content: "What does the kernel do with a module?" }];
    let a = await startServer(args);
    const r1 = await postJson(a, "/v1/chat/completions", chat(first));
    assert.equal(r1.status, 200, r1.text);
    assert.equal(await a.stop(), 0, a.stderr);
    assert.match(a.stderr, /saved 1 sessions/);
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 2);
    assert.match(files[0], /^[0-9a-f]{16}\.tokens$/);
    assert.match(files[1], /^[0-9a-f]{16}\.vqkv$/);

    const next = [...first, { role: "assistant", content: r1.json.choices[0].message.content }, { role: "user", content: "And then?" }];
    const b = await startServer(args);
    assert.match(b.stderr, /1 saved sessions/);
    const r2 = await postJson(b, "/v1/chat/completions", chat(next));
    assert.equal(r2.status, 200, r2.text);
    const m = await metrics(b);
    assert.equal(m['veloxquant_session_events_total{event="restored"}'], 1);
    assert.ok(r2.json.usage.prompt_tokens_details.cached_tokens > 20, JSON.stringify(r2.json.usage));
    assert.equal(await b.stop(), 0, b.stderr);

    const fresh = await startServer(["--threads", "1", "--kv-budget", "16M"]);
    const r3 = await postJson(fresh, "/v1/chat/completions", chat(next));
    assert.equal(r3.json.usage.prompt_tokens_details.cached_tokens, 0);
    assert.equal(r3.json.choices[0].message.content, r2.json.choices[0].message.content);
    assert.equal(await fresh.stop(), 0, fresh.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
