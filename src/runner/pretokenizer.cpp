#define PCRE2_CODE_UNIT_WIDTH 8
#include "runner/pretokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <map>
#include <stdexcept>

namespace veloxquant {

namespace {

// llama.cpp's expressions (llama-vocab.cpp), in its notation.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen35 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-4o's expression as llama.cpp runs it: \p{Lu}/\p{Ll} become "letter not in a-z" / "not in A-Z".
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kSeedCoder =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kBailing =
    R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
constexpr const char* kUfakzeka =
    R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kMinicpm5 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kPoro = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

struct Family {
  std::vector<std::string> names;
  PreTokenizerSpec spec;
};

PreTokenizerSpec make(const char* family, std::vector<std::string> patterns, bool clean_spaces,
                      bool ignore_merges = false, bool add_bos = false, bool no_bos = false) {
  return {family, std::move(patterns), ignore_merges, clean_spaces, add_bos, no_bos};
}

// tokenizer.ggml.pre values and what llama.cpp's vocabulary loader makes of each.
const std::vector<Family>& families() {
  static const std::vector<Family> table = {
      {{"", "default"}, make("default", {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, true)},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
       make("llama3", {kLlama3}, true, true, true)},
      {{"dbrx"}, make("dbrx", {kLlama3}, true)},
      {{"smaug-bpe"}, make("smaug", {kLlama3}, true)},
      {{"glm4", "chatglm-bpe"}, make("chatglm4", {kLlama3}, true, false, false, true)},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"},
       make("qwen2", {kQwen2}, false)},
      {{"megrez", "stablelm2"}, make("qwen2", {kQwen2}, true)},
      {{"qwen35"}, make("qwen35", {kQwen35}, false)},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
        "modern-bert", "exaone4", "mpt", "olmo", "jais"},
       make("gpt2", {kGpt2}, true)},
      {{"trillion", "granite-docling"}, make("gpt2", {kGpt2}, false)},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"},
       make("starcoder", {R"(\p{N})", kGpt2}, true)},
      {{"command-r", "smollm"}, make("starcoder", {R"(\p{N})", kGpt2}, false)},
      {{"falcon"}, make("falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, true)},
      {{"tekken"}, make("tekken", {kTekken}, false, true, true)},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, make("gpt4o", {kGpt4o}, false)},
      {{"seed-coder"}, make("seed-coder", {kSeedCoder}, false)},
      {{"bailingmoe", "bailingmoe2", "llada-moe"}, make("bailingmoe", {kBailing}, false)},
      {{"ufakzeka"}, make("ufakzeka", {kUfakzeka}, false)},
      {{"laguna"}, make("laguna", {R"([^\n]+|[\n]+)", kQwen2}, false)},
      {{"minicpm5"}, make("minicpm5", {R"(\p{N}{1,3})", kMinicpm5}, true, true)},
      {{"deepseek-coder"},
       make("deepseek-coder",
            {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)",
             R"(\p{N})"},
            false)},
      {{"viking"}, make("viking", {kPoro, R"(\p{N})"}, false)},
      {{"poro-chat"}, make("poro", {kPoro}, false)},
      {{"bloom", "gpt3-finnish"}, make("poro", {kPoro}, true)},
  };
  return table;
}

// The Unicode White_Space property, which llama.cpp's tables call whitespace.
constexpr const char* kWhiteSpace =
    R"(\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

}  // namespace

const PreTokenizerSpec& pretokenizer_spec(const std::string& pre) {
  for (const Family& f : families())
    if (std::find(f.names.begin(), f.names.end(), pre) != f.names.end()) return f.spec;
  std::string known;
  for (const std::string& n : pretokenizer_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::runtime_error("unsupported tokenizer.ggml.pre '" + pre + "' (supported: " + known + ")");
}

std::vector<std::string> pretokenizer_names() {
  std::vector<std::string> names;
  for (const Family& f : families())
    for (const std::string& n : f.names)
      if (!n.empty()) names.push_back(n);
  std::sort(names.begin(), names.end());
  return names;
}

std::string expand_whitespace_classes(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S') {
        if (in_class) throw std::invalid_argument("\\S inside a character class is not supported: " + pattern);
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class)
      in_class = true;
    else if (c == ']' && in_class)
      in_class = false;
    out += c;
  }
  return out;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    const std::string expanded = expand_whitespace_classes(p);
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto c = std::make_shared<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                            PCRE2_UTF | PCRE2_NO_UTF_CHECK | PCRE2_DOLLAR_ENDONLY, &error, &offset, nullptr);
    if (c->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw std::runtime_error("pre-tokenizer pattern '" + p + "' does not compile at offset " +
                               std::to_string(offset) + ": " + reinterpret_cast<const char*>(message));
    }
    // Without JIT (an unsupported CPU) the interpreter gives the same matches, only slower.
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
    compiled_.push_back(std::move(c));
  }
}

std::vector<std::pair<std::size_t, std::size_t>> RegexSplitter::split(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  if (!text.empty()) pieces.emplace_back(0, text.size());
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  // Long runs of one class (spaces, digits) need more than the default 32 KiB of JIT stack.
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  struct Release {
    pcre2_match_context* c;
    pcre2_jit_stack* s;
    ~Release() {
      pcre2_jit_stack_free(s);
      pcre2_match_context_free(c);
    }
  } release{context, stack};

  for (const auto& compiled : compiled_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(compiled->code, nullptr);
    if (md == nullptr) throw std::bad_alloc();
    std::vector<std::pair<std::size_t, std::size_t>> next;
    for (const auto& [begin, end] : pieces) {
      // Each piece is matched on its own, as llama.cpp does: look-aheads end at its end.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + begin);
      const std::size_t length = end - begin;
      std::size_t done = 0, at = 0;
      while (at < length) {
        const int rc = pcre2_match(compiled->code, subject, length, at, PCRE2_NO_UTF_CHECK, md, context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          pcre2_match_data_free(md);
          PCRE2_UCHAR message[256];
          pcre2_get_error_message(rc, message, sizeof message);
          throw std::runtime_error(std::string("pre-tokenizer match failed: ") +
                                   reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const std::size_t m0 = ov[0], m1 = ov[1];
        if (m1 == m0) {  // an empty match splits nothing; step over one character
          at = m0 + 1;
          while (at < length && (static_cast<unsigned char>(text[begin + at]) & 0xC0) == 0x80) ++at;
          continue;
        }
        if (m0 > done) next.emplace_back(begin + done, begin + m0);
        next.emplace_back(begin + m0, begin + m1);
        done = at = m1;
      }
      if (done < length) next.emplace_back(begin + done, end);
    }
    pcre2_match_data_free(md);
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace veloxquant
