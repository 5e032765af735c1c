// Test helper: GGUF files that carry a real tokenizer vocabulary, written with our GGUF writer,
// as convert_hf_to_gguf.py would write them: the vocabulary of a Hugging Face tokenizer.json
// (Llama 3, Qwen 3) or of GPT-2's encoder.json + vocab.bpe (exported by tests/reference/export_vocab.mjs),
// with llama metadata around it so
// llama.cpp loads the file vocabulary-only (no tensors).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "io/json.h"

namespace veloxquant::testing {

struct TestVocab {
  std::string model = "gpt2";  // tokenizer.ggml.model
  std::string pre;             // tokenizer.ggml.pre ("" = absent)
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;  // GGUF token types: 1 normal, 3 control, 4 user-defined
  std::vector<std::string> merges;
  std::vector<float> scores;  // SentencePiece only
  std::optional<std::uint32_t> bos, eos;
  std::optional<bool> add_bos;
  std::string chat_template;
  std::string name;  // general.name
};

inline std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline GgufValue gguf_string(std::string s) {
  GgufValue v;
  v.type = GgufType::kString;
  v.scalar = std::move(s);
  return v;
}
inline GgufValue gguf_u32(std::uint32_t x) {
  GgufValue v;
  v.type = GgufType::kUint32;
  v.scalar = std::uint64_t{x};
  return v;
}
inline GgufValue gguf_f32(float x) {
  GgufValue v;
  v.type = GgufType::kFloat32;
  v.scalar = static_cast<double>(x);
  return v;
}
inline GgufValue gguf_bool(bool b) {
  GgufValue v;
  v.type = GgufType::kBool;
  v.scalar = b;
  return v;
}
inline GgufValue gguf_strings(std::vector<std::string> s) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.elem_type = GgufType::kString;
  v.strings = std::move(s);
  return v;
}
template <typename T>
GgufValue gguf_numbers(GgufType elem, const std::vector<T>& x) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.elem_type = elem;
  v.numbers.assign(x.begin(), x.end());
  return v;
}

// Metadata of a vocabulary-only llama model (the hyper-parameters llama.cpp requires).
inline std::map<std::string, GgufValue> test_vocab_metadata(const TestVocab& v) {
  std::map<std::string, GgufValue> m;
  m["general.architecture"] = gguf_string("llama");
  m["general.name"] = gguf_string(v.name.empty() ? "vocabulary test" : v.name);
  m["llama.context_length"] = gguf_u32(4096);
  m["llama.embedding_length"] = gguf_u32(64);
  m["llama.block_count"] = gguf_u32(1);
  m["llama.feed_forward_length"] = gguf_u32(128);
  m["llama.attention.head_count"] = gguf_u32(4);
  m["llama.attention.head_count_kv"] = gguf_u32(4);
  m["llama.attention.layer_norm_rms_epsilon"] = gguf_f32(1e-5f);
  m["llama.rope.dimension_count"] = gguf_u32(16);
  m["tokenizer.ggml.model"] = gguf_string(v.model);
  if (!v.pre.empty()) m["tokenizer.ggml.pre"] = gguf_string(v.pre);
  m["tokenizer.ggml.tokens"] = gguf_strings(v.tokens);
  m["tokenizer.ggml.token_type"] = gguf_numbers(GgufType::kInt32, v.types);
  if (!v.merges.empty()) m["tokenizer.ggml.merges"] = gguf_strings(v.merges);
  if (!v.scores.empty()) m["tokenizer.ggml.scores"] = gguf_numbers(GgufType::kFloat32, v.scores);
  if (v.bos) m["tokenizer.ggml.bos_token_id"] = gguf_u32(*v.bos);
  if (v.eos) m["tokenizer.ggml.eos_token_id"] = gguf_u32(*v.eos);
  if (v.add_bos) m["tokenizer.ggml.add_bos_token"] = gguf_bool(*v.add_bos);
  if (!v.chat_template.empty()) m["tokenizer.chat_template"] = gguf_string(v.chat_template);
  return m;
}

inline std::vector<std::uint8_t> test_vocab_gguf(const TestVocab& v) {
  return write_gguf(test_vocab_metadata(v), {}, 32);
}

// convert_hf_to_gguf.py's rule: added tokens are control tokens when marked special or when they
// look special (<|...|>), user-defined otherwise.
inline bool looks_special(const std::string& t) {
  auto ends_with = [&](const std::string& s) {
    return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0;
  };
  return t == "<pad>" || t == "<mask>" || (t.rfind("<|", 0) == 0 && ends_with("|>"));
}

// A vocabulary exported by tests/reference/export_vocab.mjs from a Hugging Face tokenizer.json
// and its tokenizer_config.json, or from GPT-2's encoder.json and vocab.bpe.
inline TestVocab exported_vocab(const std::string& exported_json, const std::string& pre) {
  const Json j = Json::parse(read_file_text(exported_json));
  TestVocab v;
  v.pre = pre;
  for (const Json& t : j.at("tokens").as_array("tokens")) {
    if (t.type() != Json::Type::kString) throw std::runtime_error("token ids are not contiguous");
    v.tokens.push_back(t.as_string("token"));
    v.types.push_back(1);
  }
  for (const Json& a : j.at("added").as_array("added")) {
    const auto id = static_cast<std::size_t>(a.at("id").as_u64("id"));
    if (id > v.tokens.size()) throw std::runtime_error("added token id " + std::to_string(id) + " leaves a gap");
    if (id == v.tokens.size()) v.tokens.emplace_back(), v.types.push_back(1);
    v.tokens[id] = a.at("content").as_string("content");
    v.types[id] = a.at("special").as_bool("special") || looks_special(v.tokens[id]) ? 3 : 4;
  }
  for (const Json& m : j.at("merges").as_array("merges")) v.merges.push_back(m.as_string("merge"));
  const Json& cfg = j.at("config");
  auto id_of = [&](const char* key) -> std::optional<std::uint32_t> {
    const Json& t = cfg.at(key);
    if (t.type() != Json::Type::kString) return std::nullopt;
    for (std::size_t i = 0; i < v.tokens.size(); ++i)
      if (v.tokens[i] == t.as_string(key)) return static_cast<std::uint32_t>(i);
    return std::nullopt;
  };
  v.bos = id_of("bos_token");
  v.eos = id_of("eos_token");
  if (cfg.at("add_bos_token").type() == Json::Type::kBool) v.add_bos = cfg.at("add_bos_token").as_bool("add_bos_token");
  if (cfg.at("chat_template").type() == Json::Type::kString)
    v.chat_template = cfg.at("chat_template").as_string("chat_template");
  // GPT-2's <|endoftext|> is in encoder.json itself; it is its control token.
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == "<|endoftext|>") v.types[i] = 3;
  return v;
}

}  // namespace veloxquant::testing
