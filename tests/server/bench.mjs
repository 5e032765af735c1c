// Benchmarks of `veloxquant serve` (not a test; numbers in docs/server.md):
//
//   node tests/server/bench.mjs throughput BIN MODEL [threads] [rounds]
//     aggregate generated tokens/s with 1, 4 and 8 concurrent streaming clients (each 128 greedy
//     tokens after its own prompt), batched steps against --max-batch 1 (one session per step),
//     configurations interleaved over `rounds` rounds; prints the median and range of each.
//
//   node tests/server/bench.mjs capacity BIN MODEL CTX BUDGET FORMAT...
//     for each format (K, or K/V as tq4/tq3): how many sessions of CTX tokens the server admits at once within
//     BUDGET (it reserves prompt + max_tokens), counted from /metrics with many requests waiting;
//     and memory_bytes() of one session run to the full context, against the prediction.
const [mode, BIN, MODEL, ...rest] = process.argv.slice(2);
process.env.VQ_BIN = BIN;
process.env.VQ_MODEL = MODEL;
const { MODEL_ID, metrics, startServer, sleep, getJson } = await import("./lib.mjs");

const prompts = ["The kernel", "A file system", "Python is", "Memory management", "The device driver", "In this section",
  "The module", "Networking"];

async function stream(server, prompt, maxTokens, signal) {
  const r = await fetch(server.url + "/v1/completions", {
    method: "POST", headers: { "Content-Type": "application/json" }, signal,
    body: JSON.stringify({ model: MODEL_ID, prompt, max_tokens: maxTokens, temperature: 0, stream: true }),
  });
  if (r.status !== 200) throw new Error("status " + r.status + ": " + (await r.text()));
  await r.text();
}

async function throughput(threads = "1", rounds = "3") {
  const results = {};
  for (let round = 0; round < Number(rounds); ++round)
    for (const batch of ["on", "off"])
      for (const clients of [1, 4, 8]) {
        const server = await startServer(["--threads", threads, "--kv-budget", "64M", "--max-sessions", "8",
          ...(batch === "off" ? ["--max-batch", "1"] : [])]);
        await stream(server, "Warm up", 16);
        const before = await metrics(server);
        const t0 = performance.now();
        await Promise.all(Array.from({ length: clients }, (_, i) => stream(server, prompts[i], 128)));
        const seconds = (performance.now() - t0) / 1000;
        const m = await metrics(server);
        const tokens = m['veloxquant_tokens_total{kind="generated"}'] - before['veloxquant_tokens_total{kind="generated"}'];
        await server.stop();
        (results[`batch ${batch}, ${clients} clients`] ??= []).push(tokens / seconds);
        process.stderr.write(`round ${round + 1}: batch ${batch}, ${clients} clients: ${(tokens / seconds).toFixed(0)} tokens/s\n`);
      }
  for (const [k, v] of Object.entries(results)) {
    v.sort((a, b) => a - b);
    console.log(`${k}: median ${v[v.length >> 1].toFixed(0)} tokens/s (${v.map((x) => x.toFixed(0)).join(", ")})`);
  }
}

async function capacity(ctx, budget, ...formats) {
  for (const f of formats) {
    const [k, v = k] = f.split("/");
    const server = await startServer(["--threads", "1", "--ctx", ctx, "--kv-budget", budget, "--cache-k", k, "--cache-v", v,
      "--max-sessions", "1000", "--max-queue", "1000", "--queue-timeout", "600"]);
    const predicted = server.stderr.match(/(\d+) sessions at the full context \(([\d.]+) MiB each; f16 would need ([\d.]+) MiB/);
    // Requests that each reserve the full context; stop them once admission settled.
    const abort = new AbortController();
    const pending = Array.from({ length: 400 }, (_, i) => stream(server, prompts[i % 8], Number(ctx) - 8, abort.signal).catch(() => {}));
    let active = 0;
    for (let i = 0; i < 40; ++i) {
      await sleep(250);
      const m = await metrics(server);
      active = m['veloxquant_sessions{state="active"}'];
      if (m.veloxquant_queue_depth + active === 400 && i > 4) break;
    }
    const m = await metrics(server);
    abort.abort();
    await Promise.all(pending);
    await server.stop();
    console.log(`${f}: ${active} sessions admitted at once (${m.veloxquant_queue_depth} waiting), ` +
      `admitted bytes ${m.veloxquant_kv_reserved_bytes} of ${m.veloxquant_kv_budget_bytes}; start-up log: ${predicted[1]} sessions of ${predicted[2]} MiB (f16 ${predicted[3]} MiB)`);

    // One session to the full context: memory_bytes() then, against the log's prediction.
    const one = await startServer(["--threads", "1", "--ctx", ctx, "--kv-budget", budget, "--cache-k", k, "--cache-v", v]);
    const t0 = performance.now();
    await stream(one, "The kernel", Number(ctx) - 3);
    const s = (await getJson(one, "/sessions")).json.sessions[0];
    await one.stop();
    console.log(`${f}: one session of ${s.tokens} tokens holds ${s.kv_bytes} bytes (${(s.kv_bytes / 2 ** 20).toFixed(2)} MiB; ` +
      `${(s.kv_bytes / s.tokens).toFixed(1)} bytes/token, f16 ${(s.f16_bytes / s.tokens).toFixed(0)}), generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

if (mode === "throughput") await throughput(...rest);
else if (mode === "capacity") await capacity(...rest);
else throw new Error("usage: bench.mjs throughput|capacity BIN MODEL ...");
