// Real chat templates rendered by a Jinja implementation (@huggingface/jinja, the one
// node-llama-cpp uses), the reference of veloxquant's chat formatting
// (tests/runner_chat_template_test.cpp).
//
//   node chat_template.mjs in.json out.json
//   in.json:  {"cases": [{"template", "bos_token", "eos_token", "messages": [{"role", "content"}],
//                         "add_generation_prompt"}]}
//   out.json: {"rendered": ["...", ...]}
import fs from "node:fs";
import {Template} from "@huggingface/jinja";

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  console.error("usage: node chat_template.mjs in.json out.json");
  process.exit(2);
}
const input = JSON.parse(fs.readFileSync(inPath, "utf8"));
const rendered = input.cases.map((c) =>
  new Template(c.template).render({
    messages: c.messages,
    add_generation_prompt: c.add_generation_prompt,
    bos_token: c.bos_token,
    eos_token: c.eos_token,
  }),
);
fs.writeFileSync(outPath, JSON.stringify({rendered}));
