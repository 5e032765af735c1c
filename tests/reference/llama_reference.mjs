#!/usr/bin/env node
// llama.cpp as the independent reference of veloxquant's runner: node-llama-cpp 3.22.1 (pinned by
// package-lock.json, installed by scripts/install-reference.sh) loads llama.cpp's prebuilt CPU
// libraries; nothing is built or downloaded. Prints one JSON object on stdout.
//
//   node llama_reference.mjs COMMAND -m MODEL.gguf [options]
//
// Commands:
//   info                      model facts as llama.cpp reads them (vocab, trained context, BOS/EOS)
//   tokenize                  llama.cpp's token ids of --text T or --text-file F (no BOS added)
//   logits                    next-token logits at --positions of the input tokens: "logits"[i] is
//                             the vector over the vocabulary after input token positions[i];
//                             "argmax"[j]: the most likely next token after every input token j
//   nll                       negative log-likelihoods over windows of --ctx tokens, each window in
//                             a fresh context: input i predicts token i + 1, as `veloxquant
//                             perplexity --scoring full`; log-softmax in double from the logits
//   generate                  greedy continuation (-n tokens) of the input tokens
//   bench                     prefill of --prompt tokens and decode of --decode tokens after a
//                             context of --context tokens; llama.cpp's own timings (its perf counters)
//                             and the wall clock, per repetition
// Every output names the CPU library llama.cpp loaded ("cpu_backend": zen4, sapphirerapids, …).
// Input tokens (logits, nll, generate, bench): --tokens 1,2,3 or --tokens-file F.u16
//   (little-endian uint16 ids, as ../shared/models/test.u16) with --offset N and --count N.
// Options: --threads N (default 1), --kv TYPE (K and V cache type: f32, f16 (default), q8_0, q4_0),
//   --kv-k / --kv-v TYPE (one of them), --flash-attention on|off|auto (default off),
//   --ctx-size N (context to allocate; default: what the command needs), --batch N (default 512),
//   --positions all|first:N|last:N|LIST (logits; default all).
import fs from "node:fs";
import process from "node:process";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function fail(message) {
  process.stderr.write(`llama_reference: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const options = {};
  for (let i = 0; i < rest.length; ++i) {
    const key = rest[i];
    if (!key.startsWith("-")) fail(`unexpected argument '${key}'`);
    const name = key === "-m" ? "model" : key === "-n" ? "n-predict" : key.replace(/^--/, "");
    if (i + 1 >= rest.length) fail(`${key} needs a value`);
    options[name] = rest[++i];
  }
  return {command, options};
}

function integer(options, name, fallback) {
  if (options[name] === undefined) return fallback;
  const v = Number(options[name]);
  if (!Number.isInteger(v) || v < 0) fail(`--${name} ${options[name]} is not a non-negative integer`);
  return v;
}

function readTokens(options, vocab) {
  let tokens;
  if (options.tokens !== undefined) {
    tokens = options.tokens.split(",").filter((s) => s.length > 0).map(Number);
  } else if (options["tokens-file"] !== undefined) {
    const bytes = fs.readFileSync(options["tokens-file"]);
    if (bytes.length % 2 !== 0) fail(`${options["tokens-file"]}: odd size ${bytes.length} for uint16 ids`);
    tokens = Array.from({length: bytes.length / 2}, (_, i) => bytes.readUInt16LE(2 * i));
  } else {
    fail("give --tokens LIST or --tokens-file FILE");
  }
  const offset = integer(options, "offset", 0);
  const count = integer(options, "count", tokens.length - offset);
  if (offset + count > tokens.length) fail(`--offset ${offset} --count ${count} exceeds the ${tokens.length} tokens`);
  tokens = tokens.slice(offset, offset + count);
  for (const t of tokens)
    if (!Number.isInteger(t) || t < 0 || t >= vocab) fail(`token id ${t} is outside the vocabulary of ${vocab}`);
  if (tokens.length === 0) fail("no input tokens");
  return tokens;
}

const kvTypes = {f32: "F32", f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0"};
function kvType(name) {
  if (name === undefined) return "F16";
  if (!(name in kvTypes)) fail(`KV cache type '${name}' is not one of ${Object.keys(kvTypes).join(", ")}`);
  return kvTypes[name];
}

// llama.cpp's perf counters, printed by printTimings() through the logger, e.g.
// "llama_perf_context_print: prompt eval time =  8.80 ms /  7 tokens (...)".
function parseTimings(text) {
  const pick = (label) => {
    const m = text.match(new RegExp(`${label} time =\\s*([0-9.]+) ms /\\s*([0-9]+) (?:tokens|runs)`));
    return m ? {ms: Number(m[1]), count: Number(m[2])} : {ms: 0, count: 0};
  };
  return {prompt: pick("prompt eval"), eval: pick("\\beval")};
}

// Dense logits over the vocabulary from node-llama-cpp's Map(token → logit).
function dense(map, vocab) {
  const out = new Array(vocab).fill(-Infinity);
  for (const [token, logit] of map) out[token] = logit;
  return out;
}

function logSoftmaxAt(logits, target) {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  return logits[target] - max - Math.log(sum);
}

function parsePositions(spec, n) {
  if (spec === undefined || spec === "all") return Array.from({length: n}, (_, i) => i);
  const m = spec.match(/^(first|last):([0-9]+)$/);
  if (m) {
    const k = Math.min(n, Number(m[2]));
    return Array.from({length: k}, (_, i) => (m[1] === "first" ? i : n - k + i));
  }
  const list = spec.split(",").map(Number);
  for (const p of list) if (!Number.isInteger(p) || p < 0 || p >= n) fail(`position ${p} is outside 0..${n - 1}`);
  return list;
}

async function main() {
  const {command, options} = parseArgs(process.argv.slice(2));
  const commands = ["info", "tokenize", "logits", "nll", "generate", "bench"];
  if (!commands.includes(command)) fail(`command '${command}' is not one of ${commands.join(", ")}`);
  if (options.model === undefined) fail("missing -m MODEL.gguf");
  if (!fs.existsSync(options.model)) fail(`cannot open model '${options.model}'`);

  let log = "";
  // Which of its CPU libraries llama.cpp loaded (libggml-cpu-zen4.so, -sapphirerapids, -haswell …):
  // their f16 and quantized products differ in arithmetic, so the tests read it. Only a debug
  // message names it; the rest of the debug output is left out of `log`.
  let cpuBackend = "unknown";
  const llama = await getLlama({
    gpu: false,
    build: "never",
    logLevel: LlamaLogLevel.debug,
    logger: (level, message) => {
      const loaded = /loaded CPU backend from .*libggml-cpu-?([A-Za-z0-9_]*)\.so/.exec(message);
      if (loaded) cpuBackend = loaded[1] || "cpu";
      if (level !== LlamaLogLevel.debug) log += message;
    },
  });
  const model = await llama.loadModel({modelPath: options.model});
  const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const trainContext = model.trainContextSize;
  const out = {model: options.model, command, cpu_backend: cpuBackend};

  if (command === "info" || command === "tokenize") {
    if (command === "info") {
      Object.assign(out, {
        vocab,
        train_context: trainContext,
        bos: model.tokens.bos,
        eos: model.tokens.eos,
        adds_bos: model.tokens.shouldPrependBosToken,
        use_mmap: model.useMmap,
        build: llama.buildType,
        cpu_math_cores: llama.cpuMathCores,
      });
    } else {
      const text =
        options.text !== undefined
          ? options.text
          : options["text-file"] !== undefined
            ? fs.readFileSync(options["text-file"], "utf8")
            : fail("give --text T or --text-file F");
      out.tokens = model.tokenize(text, false);
      out.adds_bos = model.tokens.shouldPrependBosToken;
      out.bos = model.tokens.bos;
    }
    process.stdout.write(JSON.stringify(out) + "\n");
    await model.dispose();
    return;
  }

  const tokens = readTokens(options, vocab);
  const threads = integer(options, "threads", 1);
  const batch = integer(options, "batch", 512);
  const fa = options["flash-attention"] ?? "off";
  if (!["on", "off", "auto"].includes(fa)) fail(`--flash-attention ${fa} is not on, off or auto`);
  const nPredict = integer(options, "n-predict", 32);
  // One cell more than the tokens: a full context would make node-llama-cpp shift it (drop the
  // oldest tokens) before the last evaluation.
  const ctxNeeded = 1 + {
    logits: tokens.length,
    nll: integer(options, "ctx", 512),
    generate: tokens.length + nPredict,
    bench: Math.max(integer(options, "prompt", 0), integer(options, "context", 0) + integer(options, "decode", 0)),
  }[command];
  const contextSize = integer(options, "ctx-size", Math.max(ctxNeeded, 1));
  const context = await model.createContext({
    contextSize,
    batchSize: Math.min(batch, contextSize),
    threads: {ideal: threads, min: threads},
    flashAttention: fa === "auto" ? "auto" : fa === "on",
    performanceTracking: command === "bench",
    experimentalKvCacheKeyType: kvType(options["kv-k"] ?? options.kv),
    experimentalKvCacheValueType: kvType(options["kv-v"] ?? options.kv),
    failedCreationRemedy: false,
  });
  const sequence = context.getSequence();
  Object.assign(out, {
    threads,
    kv_k: options["kv-k"] ?? options.kv ?? "f16",
    kv_v: options["kv-v"] ?? options.kv ?? "f16",
    flash_attention: fa,
    context_size: context.contextSize,
  });

  if (command === "logits") {
    // Full logits at the chosen positions; the argmax at every position.
    const positions = parsePositions(options.positions, tokens.length);
    const wanted = new Set(positions);
    const argmaxOnly = {generateNext: {token: true, options: {temperature: 0}}};  // greedy: the argmax
    const input = tokens.map((t, i) => [t, wanted.has(i) ? {generateNext: {logits: true}} : argmaxOnly]);
    const result = await sequence.controlledEvaluate(input);
    out.vocab = vocab;
    out.positions = positions;
    out.logits = positions.map((p) => dense(result[p].next.logits, vocab));
    out.argmax = result.map((r, i) => (wanted.has(i) ? r.next.logits.keys().next().value : r.next.token));
  } else if (command === "nll") {
    const ctx = integer(options, "ctx", 512);
    const all = Math.floor((tokens.length - 1) / ctx);
    const skip = integer(options, "skip", 0);
    const windows = Math.min(integer(options, "windows", all - skip), all - skip);
    if (windows <= 0) fail(`no window of ${ctx} tokens (and its last target) after skipping ${skip}`);
    out.ctx = ctx;
    out.windows = [];
    let nll = 0,
      count = 0;
    for (let w = skip; w < skip + windows; ++w) {
      await sequence.clearHistory();
      const input = tokens.slice(w * ctx, w * ctx + ctx).map((t) => [t, {generateNext: {logits: true}}]);
      const result = await sequence.controlledEvaluate(input);
      let sum = 0;
      for (let i = 0; i < ctx; ++i) {
        const logits = dense(result[i].next.logits, vocab);
        sum -= logSoftmaxAt(logits, tokens[w * ctx + i + 1]);
      }
      out.windows.push({nll: sum, count: ctx});
      nll += sum;
      count += ctx;
    }
    Object.assign(out, {nll, count, ppl: Math.exp(nll / count)});
  } else if (command === "generate") {
    const greedy = {generateNext: {token: true, options: {temperature: 0}}};
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, greedy] : t));
    let next = (await sequence.controlledEvaluate(input))[tokens.length - 1].next.token;
    out.generated = [];
    while (out.generated.length < nPredict && next !== null) {
      out.generated.push(next);
      if (out.generated.length === nPredict) break;
      next = (await sequence.controlledEvaluate([[next, greedy]]))[0].next.token;
    }
  } else {
    // bench: --prompt P (prefill of P tokens into an empty context), then --context C tokens as a
    // prefill and --decode M single-token steps after it (greedy), repeated --reps times.
    const prompt = integer(options, "prompt", 0);
    const ctx = integer(options, "context", 0);
    const decode = integer(options, "decode", 0);
    const reps = integer(options, "reps", 1);
    const need = Math.max(prompt, ctx);
    if (tokens.length < need) fail(`bench needs ${need} input tokens, got ${tokens.length}`);
    const greedy = {generateNext: {token: true, options: {temperature: 0}}};
    out.runs = [];
    const timings = async () => {
      log = "";
      await context.printTimings();  // prints and resets llama.cpp's counters
      return parseTimings(log);
    };
    for (let r = 0; r < reps; ++r) {
      const run = {};
      if (prompt > 0) {
        await sequence.clearHistory();
        await timings();
        const t0 = performance.now();
        await sequence.controlledEvaluate(tokens.slice(0, prompt).map((t, i) => (i === prompt - 1 ? [t, greedy] : t)));
        const wall = (performance.now() - t0) / 1000;
        const t = await timings();
        run.prefill = {tokens: prompt, seconds: t.prompt.ms / 1000, wall_seconds: wall,
                       tokens_per_s: (prompt * 1000) / t.prompt.ms};
      }
      if (decode > 0) {
        await sequence.clearHistory();
        const first = tokens.slice(0, ctx);
        let next = (await sequence.controlledEvaluate(first.map((t, i) => (i === ctx - 1 ? [t, greedy] : t))))[ctx - 1]
          .next.token;
        await timings();
        const t0 = performance.now();
        for (let i = 0; i < decode; ++i) next = (await sequence.controlledEvaluate([[next ?? 0, greedy]]))[0].next.token;
        const wall = (performance.now() - t0) / 1000;
        const t = await timings();
        run.decode = {context: ctx, steps: t.eval.count, seconds: t.eval.ms / 1000, wall_seconds: wall,
                      tokens_per_s: (t.eval.count * 1000) / t.eval.ms};
      }
      out.runs.push(run);
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
  await context.dispose();
  await model.dispose();
}

main().catch((e) => fail(e?.stack ?? String(e)));
