// The status page in headless Chromium: after its script ran, the DOM holds one table row per
// session with the server's numbers, and the screenshot shows the table head and, per session, a
// green bar (the compressed cache) inside a grey one (f16) whose length ratio is kv_bytes / f16_bytes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { MODEL_ID, getJson, postJson, startServer } from "./lib.mjs";
import { readPng } from "./png.mjs";

const HEAD = 0x1f6feb, GREEN = 0x2da44e, GREY = 0xd0d7de;
let server, profile, sessions;

before(async () => {
  server = await startServer(["--threads", "1", "--kv-budget", "32M"]);
  for (const [prompt, n] of [["The kernel", 300], ["Python is a language", 120], ["A file system", 60]])
    assert.equal((await postJson(server, "/v1/completions", { model: MODEL_ID, prompt, max_tokens: n, temperature: 0 })).status, 200);
  sessions = (await getJson(server, "/sessions")).json.sessions;
  assert.equal(sessions.length, 3);
  profile = mkdtempSync(join(tmpdir(), "vq-chromium-"));
});

after(async () => {
  rmSync(profile, { recursive: true, force: true });
  assert.equal(await server.stop(), 0, server.stderr);
});

function chromium(...args) {
  return execFileSync("chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
    `--user-data-dir=${profile}`, "--window-size=1200,700", "--virtual-time-budget=4000", ...args, server.url + "/",
  ], { encoding: "latin1", stdio: ["ignore", "pipe", "pipe"], timeout: 60000 });
}

test("the DOM after the script ran holds the session table", () => {
  const dom = chromium("--dump-dom");
  const rows = [...dom.matchAll(/<tr data-id="([0-9a-f]{16})">(.*?)<\/tr>/g)];
  assert.deepEqual(rows.map((r) => r[1]), sessions.map((s) => s.id));
  for (const [i, r] of rows.entries()) {
    const cells = [...r[2].matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((c) => c[1]);
    assert.equal(cells[1], "idle");
    assert.equal(Number(cells[2]), sessions[i].tokens);
    assert.equal(Number(cells[3]), sessions[i].kv_bytes);
    assert.equal(Number(cells[4]), sessions[i].f16_bytes);
  }
  assert.match(dom, /K tq4 \/ V tq3/);
});

test("the screenshot shows the table and one bar per session with the KV / f16 ratio", () => {
  const file = join(profile, "page.png");
  chromium(`--screenshot=${file}`);
  const png = readPng(readFileSync(file));
  assert.equal(png.width, 1200);
  // The head: a band of its colour across the table.
  let headRows = 0;
  for (let y = 0; y < png.height; ++y) {
    let n = 0;
    for (let x = 0; x < png.width; ++x) n += png.rgb(x, y) === HEAD;
    if (n > 500) ++headRows;
  }
  assert.ok(headRows >= 15, `table head not found (${headRows} rows of its colour)`);
  // Bars: runs of rows holding green or grey; per bar, green / (green + grey) on its middle line.
  const bars = [];
  let open = null;
  for (let y = 0; y < png.height; ++y) {
    let green = 0, grey = 0;
    for (let x = 0; x < png.width; ++x) {
      const c = png.rgb(x, y);
      green += c === GREEN;
      grey += c === GREY;
    }
    const inBar = green + grey >= 150;
    if (inBar && !open) open = { top: y, lines: [] };
    if (inBar) open.lines.push({ green, grey });
    if (!inBar && open) {
      bars.push(open);
      open = null;
    }
  }
  assert.equal(bars.length, 3, "one bar per session");
  for (const [i, bar] of bars.entries()) {
    assert.ok(bar.lines.length >= 10 && bar.lines.length <= 14, `bar ${i} is ${bar.lines.length} px high`);
    const mid = bar.lines[bar.lines.length >> 1];
    assert.ok(Math.abs(mid.green + mid.grey - 200) <= 1, `bar ${i} is ${mid.green + mid.grey} px long`);
    const want = Math.min(1, sessions[i].kv_bytes / sessions[i].f16_bytes);
    assert.ok(Math.abs(mid.green - 200 * want) <= 1.5, `bar ${i}: ${mid.green} px green, expected ${200 * want}`);
  }
});
