// The official OpenAI client (npm `openai`, pinned in package.json) against `veloxquant serve`:
// models, completions and chat, whole and streamed, usage, seeds, and its error classes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI from "openai";

import { MODEL_ID, startServer } from "./lib.mjs";

let server, client;

before(async () => {
  server = await startServer(["--api-key", "sk-veloxquant-test", "--threads", "1", "--kv-budget", "64M"]);
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: "sk-veloxquant-test", maxRetries: 0 });
});

after(async () => {
  assert.equal(await server.stop(), 0, server.stderr);
});

test("models.list names the served model", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, [MODEL_ID]);
  const one = await client.models.retrieve(MODEL_ID);
  assert.equal(one.id, MODEL_ID);
});

test("completion, whole and streamed, greedy: the same text", async () => {
  const request = { model: MODEL_ID, prompt: "The Python interpreter", max_tokens: 32, temperature: 0 };
  const whole = await client.completions.create(request);
  assert.equal(whole.object, "text_completion");
  assert.equal(whole.choices.length, 1);
  assert.equal(whole.choices[0].finish_reason, "length");
  assert.equal(typeof whole.choices[0].text, "string");
  assert.ok(whole.choices[0].text.length > 0);
  assert.equal(whole.usage.completion_tokens, 32);
  assert.ok(whole.usage.prompt_tokens > 1);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + 32);

  let text = "";
  let last;
  for await (const chunk of await client.completions.create({ ...request, stream: true })) {
    text += chunk.choices[0]?.text ?? "";
    last = chunk;
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(last.choices[0].finish_reason, "length");

  // And once more: the same text again.
  const again = await client.completions.create(request);
  assert.equal(again.choices[0].text, whole.choices[0].text);
});

test("chat completion, whole and streamed with usage", async () => {
  const request = {
    model: MODEL_ID,
    messages: [
      {
        role: "system",
        content: "You answer in one line. The documentation describes the Linux kernel and the Python language.",
      },
      { role: "user", content: "What does the kernel do?" },
    ],
    max_tokens: 24,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(request);
  assert.equal(whole.object, "chat.completion");
  assert.equal(whole.choices[0].message.role, "assistant");
  assert.equal(typeof whole.choices[0].message.content, "string");
  assert.ok(["length", "stop"].includes(whole.choices[0].finish_reason));

  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let content = "";
  let role = null;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      role ??= c.delta.role ?? null;
      content += c.delta.content ?? "";
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(role, "assistant");
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0, "the second run reuses the first one's session");
});

test("a seed makes sampling reproducible", async () => {
  const request = { model: MODEL_ID, prompt: "A module", max_tokens: 24, temperature: 0.9, top_p: 0.95, seed: 7 };
  const a = await client.completions.create(request);
  const b = await client.completions.create(request);
  assert.equal(a.choices[0].text, b.choices[0].text);
  const others = new Set();
  for (const seed of [8, 9, 10]) others.add((await client.completions.create({ ...request, seed })).choices[0].text);
  assert.ok(others.size > 1 || !others.has(a.choices[0].text), "other seeds gave the same text every time");
});

test("errors arrive as the client's error classes", async () => {
  await assert.rejects(client.completions.create({ model: "no-such-model", prompt: "x", max_tokens: 2 }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "model_not_found");
    return true;
  });
  await assert.rejects(client.completions.create({ model: MODEL_ID, prompt: "x", max_tokens: 100000 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, "context_length_exceeded");
    assert.equal(e.param, "max_tokens");
    return true;
  });
  const wrong = new OpenAI({ baseURL: server.url + "/v1", apiKey: "sk-wrong", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    assert.equal(e.code, "invalid_api_key");
    return true;
  });
});
