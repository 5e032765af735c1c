// llama.cpp's tokenizer as the reference of veloxquant's (tests/runner_tokenizer_reference_test.cpp):
// loads each GGUF vocabulary-only through node-llama-cpp's prebuilt CPU library and writes, for
// every text, llama.cpp's token ids (without and with special-token parsing) and its
// detokenization of them (without and with special-token text).
//
//   node tokenize.mjs jobs.json out.json
//   jobs.json: {"models": [{"gguf": "a.gguf", "texts": ["t1.txt", ...]}, ...]}
//   out.json:  {"models": [{"gguf", "bos", "eos", "eot", "add_bos", "add_eos",
//                           "texts": [{"ids", "ids_special", "decoded_hex", "decoded_special_hex"}]}]}
//
// Texts go to llama.cpp as JavaScript strings, so they must be valid UTF-8 (checked here; an
// invalid byte would reach llama.cpp as U+FFFD and the comparison would be meaningless).
// Decoded text comes back as hex of its UTF-8 bytes.
import fs from "node:fs";
import {getLlama} from "node-llama-cpp";

const [jobsPath, outPath] = process.argv.slice(2);
if (!jobsPath || !outPath) {
  console.error("usage: node tokenize.mjs jobs.json out.json");
  process.exit(2);
}
const jobs = JSON.parse(fs.readFileSync(jobsPath, "utf8"));
const strict = new TextDecoder("utf-8", {fatal: true});
const hex = (s) => Buffer.from(s, "utf8").toString("hex");

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const out = {models: []};
for (const job of jobs.models) {
  const model = await llama.loadModel({modelPath: job.gguf, vocabOnly: true});
  const result = {
    gguf: job.gguf,
    bos: model.tokens.bos,
    eos: model.tokens.eos,
    eot: model.tokens.eot,
    add_bos: model.tokens.shouldPrependBosToken,
    add_eos: model.tokens.shouldAppendEosToken,
    texts: [],
  };
  for (const path of job.texts) {
    const text = strict.decode(fs.readFileSync(path));
    const ids = model.tokenize(text, false);
    const idsSpecial = model.tokenize(text, true);
    result.texts.push({
      path,
      ids: Array.from(ids),
      ids_special: Array.from(idsSpecial),
      decoded_hex: hex(model.detokenize(ids, false)),
      decoded_special_hex: hex(model.detokenize(idsSpecial, true)),
    });
  }
  out.models.push(result);
  await model.dispose();
}
fs.writeFileSync(outPath, JSON.stringify(out));
await llama.dispose();
