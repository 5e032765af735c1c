// llama.cpp's dequantized rows of probe models (tests/weights_parity_test.cpp writes them).
//
//   node weights_dequant_probe.mjs STRIDE OUT_DIR MODEL.gguf [MODEL.gguf ...]
//
// A probe model is a 1-layer llama whose layer adds nothing (zero output matrices), whose RMS
// norm epsilon is 2^40 (so the norms scale by exactly 2^-20) and whose output matrix is the f32
// identity on the first `dim` logits. The logits of a position are then llama.cpp's dequantized
// token_embd row of that position's token times 2^-20, bit for bit (except that the identity's
// sums turn −0 into +0). For each model this writes OUT_DIR/<model file name>.f32: for the
// tokens 0, STRIDE, 2·STRIDE, … below the vocabulary size, in order, the first `dim` logits as
// little-endian float32.
import fs from "node:fs";
import path from "node:path";
import {getLlama} from "node-llama-cpp";

const [strideText, outDir, ...models] = process.argv.slice(2);
const stride = Number(strideText);
if (!(stride >= 1) || !outDir || models.length === 0) {
    console.error("usage: node weights_dequant_probe.mjs STRIDE OUT_DIR MODEL.gguf [MODEL.gguf ...]");
    process.exit(2);
}

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
for (const file of models) {
    const model = await llama.loadModel({modelPath: file});
    const dim = model.embeddingVectorSize;
    const vocab = Number(model.fileInfo.metadata.llama.vocab_size);
    const n = Math.ceil(vocab / stride);
    const context = await model.createContext({contextSize: Math.max(n, 64), batchSize: 512, threads: 1});
    const sequence = context.getSequence();
    const wanted = Array.from({length: dim}, (_, i) => i);
    const items = [];
    for (let i = 0; i < n; i++)
        items.push([i * stride, {generateNext: {logits: {filter: {tokens: wanted}}}}]);
    const results = await sequence.controlledEvaluate(items);
    const out = new Float32Array(n * dim);
    for (let t = 0; t < n; t++) {
        const logits = results[t]?.next?.logits;
        if (!logits) throw new Error(`${file}: no logits at position ${t}`);
        for (const [token, value] of logits) {
            if (token < dim) out[t * dim + token] = value;
        }
    }
    fs.writeFileSync(path.join(outDir, path.basename(file) + ".f32"), Buffer.from(out.buffer));
    await context.dispose();
    await model.dispose();
}
