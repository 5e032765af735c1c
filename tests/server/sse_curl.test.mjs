// The raw server-sent-event stream as curl receives it: headers, chunked transfer, one
// "data: {json}" event per chunk, each followed by a blank line, ending with "data: [DONE]".
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";

import { MODEL_ID, startServer } from "./lib.mjs";

let server;
before(async () => (server = await startServer(["--threads", "1", "--kv-budget", "32M"])));
after(async () => assert.equal(await server.stop(), 0, server.stderr));

function curl(path, body) {
  return execFileSync(
    "curl",
    ["-sS", "-N", "-i", "-H", "Content-Type: application/json", "-d", JSON.stringify(body), server.url + path],
    { encoding: "utf8" },
  );
}

function events(raw) {
  const split = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, split);
  const body = raw.slice(split + 4);
  assert.match(head, /^HTTP\/1\.1 200 OK/);
  assert.match(head, /\r\nContent-Type: text\/event-stream\r\n/i);
  assert.match(head, /\r\nTransfer-Encoding: chunked\r\n/i);
  assert.match(head, /\r\nCache-Control: no-cache\r\n/i);
  assert.ok(body.endsWith("data: [DONE]\n\n"), "the stream ends with data: [DONE]");
  const parts = body.split("\n\n");
  assert.equal(parts.pop(), "");
  assert.equal(parts.pop(), "data: [DONE]");
  return parts.filter((p) => !p.startsWith(":")).map((p) => {
    assert.match(p, /^data: \{.*\}$/s, "every event is one data line holding a JSON object");
    assert.ok(!p.slice(6).includes("\n"), "the JSON of an event is on one line");
    return JSON.parse(p.slice(6));
  });
}

test("completion stream", () => {
  const list = events(curl("/v1/completions", { model: MODEL_ID, prompt: "The kernel", max_tokens: 20, temperature: 0, stream: true }));
  assert.ok(list.length >= 2);
  const ids = new Set(list.map((e) => e.id));
  assert.equal(ids.size, 1, "all chunks carry one id");
  for (const e of list) {
    assert.equal(e.object, "text_completion");
    assert.equal(e.model, MODEL_ID);
    assert.equal(e.choices.length, 1);
  }
  assert.deepEqual(list.slice(0, -1).map((e) => e.choices[0].finish_reason), Array(list.length - 1).fill(null));
  assert.equal(list.at(-1).choices[0].finish_reason, "length");
  const whole = JSON.parse(
    execFileSync("curl", ["-sS", "-H", "Content-Type: application/json", "-d",
      JSON.stringify({ model: MODEL_ID, prompt: "The kernel", max_tokens: 20, temperature: 0 }), server.url + "/v1/completions"], { encoding: "utf8" }),
  );
  assert.equal(list.map((e) => e.choices[0].text).join(""), whole.choices[0].text);
});

test("chat stream: role first, then content, then the finish reason, then usage", () => {
  const list = events(curl("/v1/chat/completions", {
    model: MODEL_ID, messages: [{ role: "user", content: "Hello" }], max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  }));
  assert.deepEqual(list[0].choices[0].delta, { role: "assistant", content: "" });
  for (const e of list) assert.equal(e.object, "chat.completion.chunk");
  const usage = list.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.ok(usage.usage.completion_tokens >= 1);
  assert.ok(["length", "stop"].includes(list.at(-2).choices[0].finish_reason));
  assert.deepEqual(list.at(-2).choices[0].delta, {});
});

test("an error before the stream starts is a plain JSON error, not a stream", () => {
  const raw = execFileSync("curl", ["-sS", "-i", "-H", "Content-Type: application/json", "-d",
    JSON.stringify({ model: MODEL_ID, prompt: "x", max_tokens: -3, stream: true }), server.url + "/v1/completions"], { encoding: "utf8" });
  assert.match(raw, /^HTTP\/1\.1 400 /);
  assert.match(raw, /\r\nContent-Type: application\/json\r\n/i);
  const body = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
  assert.equal(body.error.param, "max_tokens");
});
