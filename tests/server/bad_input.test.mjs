// Bad input against `veloxquant serve`: every case gets a clear JSON error (or, for a broken
// connection, is dropped), the server never crashes, and no slot stays taken.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { MODEL_ID, SLOW, eventually, metrics, parseResponse, postJson, rawConnection, sleep, startServer } from "./lib.mjs";

const KEY = "sk-bad-input";
const AUTH = { Authorization: "Bearer " + KEY };
let server;

before(async () => {
  server = await startServer([
    "--api-key", KEY, "--threads", "1", "--timeout", "2", "--max-body", "64K", "--max-sessions", "2", "--kv-budget", "32M",
  ]);
});

after(async () => {
  // Still alive and serving, nothing left running or queued, and a clean exit.
  try {
    const health = await fetch(server.url + "/health");
    assert.equal(health.status, 200);
    const m = await metrics(server);
    assert.equal(m['veloxquant_sessions{state="active"}'], 0);
    assert.equal(m.veloxquant_queue_depth, 0);
  } finally {
    assert.equal(await server.stop(), 0, server.stderr);
  }
});

async function expectError(body, status, code, param, headers = AUTH, path = "/v1/completions") {
  const r = await postJson(server, path, body, headers);
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  assert.ok(r.json?.error, "a JSON error body: " + r.text);
  assert.equal(typeof r.json.error.message, "string");
  assert.ok(r.json.error.message.length > 5);
  if (code) assert.equal(r.json.error.code, code, r.text);
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
  return r.json.error;
}

const ok = { model: MODEL_ID, prompt: "The kernel", max_tokens: 4, temperature: 0 };

test("malformed JSON", async () => {
  const e = await expectError('{"model": "x", "prompt": ', 400, "invalid_json", null);
  assert.match(e.message, /offset/);
  await expectError("[1, 2, 3]", 400, "invalid_json", null);
  await expectError("", 400, "invalid_json", null);
  await expectError('{"model": "m",, }', 400, "invalid_json", null);
});

test("wrong types and values name the field", async () => {
  await expectError({ ...ok, model: 42 }, 400, "invalid_type", "model");
  await expectError({ ...ok, prompt: { text: "x" } }, 400, "invalid_type", "prompt");
  await expectError({ ...ok, max_tokens: "10" }, 400, "invalid_type", "max_tokens");
  await expectError({ ...ok, temperature: "warm" }, 400, "invalid_type", "temperature");
  await expectError({ ...ok, temperature: 9 }, 400, "invalid_value", "temperature");
  await expectError({ ...ok, top_p: 0 }, 400, "invalid_value", "top_p");
  await expectError({ ...ok, stream: 1 }, 400, "invalid_type", "stream");
  await expectError({ ...ok, stop: [1] }, 400, "invalid_type", "stop");
  await expectError({ ...ok, n: 3 }, 400, "unsupported", "n");
  const { prompt, ...noPrompt } = ok;
  await expectError(noPrompt, 400, "missing_field", "prompt");
  await expectError({ model: MODEL_ID, messages: [{ role: "user" }] }, 400, "missing_field", "messages[0].content", AUTH,
    "/v1/chat/completions");
  await expectError({ model: MODEL_ID, messages: "hi" }, 400, "invalid_type", "messages", AUTH, "/v1/chat/completions");
});

test("unknown model", async () => {
  const e = await expectError({ ...ok, model: "gpt-4o" }, 404, "model_not_found", "model");
  assert.match(e.message, /gpt-4o/);
});

test("a prompt longer than the context", async () => {
  const e = await expectError({ ...ok, prompt: "the kernel module ".repeat(700) }, 400, "context_length_exceeded", "prompt");
  assert.match(e.message, /context holds 1024/);
});

test("absurd max_tokens", async () => {
  const e = await expectError({ ...ok, max_tokens: 1000000000 }, 400, "context_length_exceeded", "max_tokens");
  assert.match(e.message, /1000000000/);
  await expectError({ ...ok, max_tokens: 1e30 }, 400, "invalid_value", "max_tokens");
  await expectError({ ...ok, max_tokens: -1 }, 400, "invalid_value", "max_tokens");
  await expectError({ ...ok, max_tokens: 0 }, 400, "invalid_value", "max_tokens");
  await expectError({ ...ok, max_tokens: 3.5 }, 400, "invalid_value", "max_tokens");
});

test("invalid UTF-8 in the body", async () => {
  const bytes = Buffer.concat([Buffer.from(`{"model": "${MODEL_ID}", "prompt": "caf`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  const e = await expectError(new Uint8Array(bytes), 400, "invalid_utf8", null);
  assert.match(e.message, /byte \d+/);
  // The same text correctly encoded, and escaped as a surrogate pair, is fine.
  assert.equal((await postJson(server, "/v1/completions", { ...ok, prompt: "café 😀" }, AUTH)).status, 200);
  assert.equal((await postJson(server, "/v1/completions", `{"model": "${MODEL_ID}", "prompt": "\\ud83d\\ude00", "max_tokens": 2}`, AUTH)).status, 200);
});

test("a body over the limit is 413, announced or chunked", async () => {
  const big = JSON.stringify({ ...ok, prompt: "x".repeat(100 * 1024) });
  const r = await postJson(server, "/v1/completions", big, AUTH);
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, "request_too_large");

  // Announced as 50 MB: answered without the server reading (or allocating) it.
  const c = rawConnection(server);
  await c.ready;
  c.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    "Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n{\"model\":");
  await eventually(() => c.data.includes("\r\n\r\n") || c.closed, 5000, "an answer to a 50 MB body");
  await c.closedPromise;
  assert.equal(parseResponse(c.data).status, 413, c.data);

  // Chunked, without a length: cut off at the limit.
  const d = rawConnection(server);
  await d.ready;
  d.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  const chunk = "x".repeat(16 * 1024);
  for (let i = 0; i < 8 && !d.closed; ++i) {
    d.socket.write(chunk.length.toString(16) + "\r\n" + chunk + "\r\n");
    await sleep(20);
  }
  await eventually(() => d.data.includes("\r\n\r\n") || d.closed, 5000, "an answer to a long chunked body");
  // cpp-httplib 0.11 reports a chunked body beyond the limit as a bad request (400).
  const answer = parseResponse(d.data);
  assert.equal(answer.status, 400, d.data.slice(0, 200));
  assert.equal(answer.json.error.code, "unreadable_body");
  assert.match(answer.json.error.message, /--max-body/);
  d.socket.destroy();
});

test("slow clients are cut off by the timeout and do not hold the server", async () => {
  const before = await metrics(server);
  // Half a request line, then nothing.
  const a = rawConnection(server);
  await a.ready;
  a.socket.write("POST /v1/compl");
  // Headers complete, body promised but only partly sent.
  const b = rawConnection(server);
  await b.ready;
  b.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"model": "');
  const t0 = Date.now();
  // Meanwhile others are served.
  assert.equal((await postJson(server, "/v1/completions", ok, AUTH)).status, 200);
  assert.ok(Date.now() - t0 < 1500 * SLOW, "a normal request waited behind the slow ones");
  await Promise.all([a.closedPromise, b.closedPromise]);
  const waited = Date.now() - t0;
  assert.ok(waited >= 1500 && waited < 8000 * SLOW, `closed after ${waited} ms (timeout 2 s)`);
  const m = await metrics(server);
  assert.equal(m['veloxquant_generations_total{outcome="finished"}'], before['veloxquant_generations_total{outcome="finished"}'] + 1);
});

test("a client that disconnects mid-stream frees its slot at once", async () => {
  const before = await metrics(server);
  const c = rawConnection(server);
  await c.ready;
  const body = JSON.stringify({ model: MODEL_ID, prompt: "The kernel", max_tokens: 1000, temperature: 0, stream: true });
  c.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await eventually(() => (c.data.match(/data: /g) ?? []).length >= 3, 10000, "three events");
  c.socket.destroy();
  await eventually(async () => (await metrics(server))['veloxquant_sessions{state="active"}'] === 0, 3000, "the slot to be freed");
  const m = await metrics(server);
  assert.equal(m['veloxquant_generations_total{outcome="cancelled"}'], before['veloxquant_generations_total{outcome="cancelled"}'] + 1);
  const generated = m['veloxquant_tokens_total{kind="generated"}'] - before['veloxquant_tokens_total{kind="generated"}'];
  assert.ok(generated < 1000, `the generation went on after the client left (${generated} tokens)`);
});

test("a client that leaves before a whole (not streamed) reply, and one that stops reading", async () => {
  const c = rawConnection(server);
  await c.ready;
  const body = JSON.stringify({ ...ok, max_tokens: 100 });
  c.socket.end(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  c.socket.destroy();
  await eventually(async () => (await metrics(server))['veloxquant_sessions{state="active"}'] === 0, 10000, "the slot to be freed");

  // Stops reading a stream: the generation still ends and frees the slot; the bytes wait in the socket.
  const d = rawConnection(server);
  await d.ready;
  const s = JSON.stringify({ ...ok, max_tokens: 100, stream: true });
  d.socket.pause();
  d.socket.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${s.length}\r\n\r\n${s}`);
  await sleep(200);
  await eventually(async () => (await metrics(server))['veloxquant_sessions{state="active"}'] === 0, 10000, "the slot to be freed");
  d.socket.resume();
  await eventually(() => d.data.includes("data: [DONE]"), 5000, "the whole stream");
  d.socket.destroy();
});

test("API key: missing or wrong is 401; monitoring stays open", async () => {
  const e = await expectError(ok, 401, "invalid_api_key", null, {});
  assert.match(e.message, /missing API key/);
  await expectError(ok, 401, "invalid_api_key", null, { Authorization: "Bearer sk-nope" });
  await expectError(ok, 401, "invalid_api_key", null, { Authorization: KEY });
  assert.equal((await fetch(server.url + "/v1/models")).status, 401);
  assert.equal((await fetch(server.url + "/v1/models", { headers: AUTH })).status, 200);
  for (const path of ["/health", "/metrics", "/sessions", "/"]) assert.equal((await fetch(server.url + path)).status, 200, path);
});

test("a form body (curl -d without a content type) is 415 with what to send", async () => {
  const r = await fetch(server.url + "/v1/completions", {
    method: "POST", headers: { ...AUTH, "Content-Type": "application/x-www-form-urlencoded" }, body: JSON.stringify(ok),
  });
  assert.equal(r.status, 415);
  const e = (await r.json()).error;
  assert.equal(e.code, "unsupported_media_type");
  assert.match(e.message, /application\/json/);
  // Other or no content types are read as JSON.
  for (const type of ["application/json; charset=utf-8", "text/plain"])
    assert.equal((await postJson(server, "/v1/completions", ok, { ...AUTH, "Content-Type": type })).status, 200, type);
});

test("unknown endpoints and methods are JSON 404s", async () => {
  for (const [method, path] of [["GET", "/v1/completions"], ["GET", "/v2/anything"], ["DELETE", "/v1/models"]]) {
    const r = await fetch(server.url + path, { method, headers: AUTH });
    assert.equal(r.status, 404, method + " " + path);
    assert.equal((await r.json()).error.code, "not_found");
  }
});
