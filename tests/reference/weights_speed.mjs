// llama.cpp's prefill and decode speed on a GGUF model (node-llama-cpp 3.22.1, CPU), to put next
// to `veloxquant run`'s numbers for the same file (docs/weights.md, "Speed").
//
//   node weights_speed.mjs MODEL.gguf [--prompt 448] [--gen 63] [--threads 1] [--reps 3]
//        [--kv f16|q8_0|q4_0] [--flash-attention on|off]
//
// Each repetition evaluates a prompt of deterministic token ids in one batch (prefill), then
// generates --gen tokens greedily one at a time (decode), in a fresh sequence of one context
// (KV cache of type --kv, default f16; llama.cpp needs flash attention for a quantized V cache).
// Prints one JSON line per repetition: prefill and decode tokens per second.
import {getLlama} from "node-llama-cpp";

const args = process.argv.slice(2);
const file = args[0];
const option = (name, fallback) => {
    const i = args.indexOf("--" + name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
};
const promptTokens = option("prompt", 448), genTokens = option("gen", 63);
const threads = option("threads", 1), reps = option("reps", 3);
const text = (name, fallback) => {
    const i = args.indexOf("--" + name);
    return i >= 0 ? args[i + 1] : fallback;
};
const kvTypes = {f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0"};
const kv = text("kv", "f16"), flash = text("flash-attention", "off");
if (!file || !(kv in kvTypes) || !["on", "off"].includes(flash)) {
    console.error("usage: node weights_speed.mjs MODEL.gguf [--prompt N] [--gen N] [--threads N] [--reps N] " +
                  "[--kv f16|q8_0|q4_0] [--flash-attention on|off]");
    process.exit(2);
}

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: file});
const context = await model.createContext({
    contextSize: promptTokens + genTokens + 16,
    batchSize: Math.max(promptTokens, 1),
    threads: {ideal: threads, min: threads},
    flashAttention: flash === "on",
    experimentalKvCacheKeyType: kvTypes[kv],
    experimentalKvCacheValueType: kvTypes[kv],
});
// Token ids 3 … 4095: ordinary tokens of the shared model's vocabulary (and of synthetic models
// that copy it).
const prompt = Array.from({length: promptTokens}, (_, i) => 3 + ((i * 7919 + 17) % 4093));
for (let rep = 0; rep < reps; rep++) {
    const sequence = context.getSequence();
    const t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
    const t1 = performance.now();
    let generated = 0;
    for await (const token of sequence.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
        void token;
        if (++generated >= genTokens) break;
    }
    const t2 = performance.now();
    console.log(JSON.stringify({
        model: file, rep, threads, kv, flash_attention: flash, prompt_tokens: promptTokens - 1, gen_tokens: generated,
        prefill_tokens_per_s: (promptTokens - 1) / ((t1 - t0) / 1000),
        decode_tokens_per_s: generated / ((t2 - t1) / 1000),
    }));
    sequence.dispose();
}
await context.dispose();
await model.dispose();
