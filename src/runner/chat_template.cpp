#include "runner/chat_template.h"

#include <stdexcept>

namespace veloxquant {

namespace {

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Jinja's `trim` on ASCII whitespace (what llama.cpp's built-in templates trim too).
std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && ascii_space(s[b])) ++b;
  while (e > b && ascii_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string strip_newlines_left(const std::string& s) {
  std::size_t b = 0;
  while (b < s.size() && s[b] == '\n') ++b;
  return s.substr(b);
}

std::string strip_newlines(const std::string& s) {
  std::string t = strip_newlines_left(s);
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

// A constant default system message of a ChatML template: '<|im_start|>system\n' followed by
// literal text up to <|im_end|> (Qwen 2/2.5 write one when the conversation has none).
std::string default_system_message(const std::string& text) {
  const std::string needle = "<|im_start|>system\\n";
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    const std::size_t begin = at + needle.size();
    const std::size_t end = text.find("<|im_end|>", begin);
    if (end == std::string::npos) break;
    const std::string literal = text.substr(begin, end - begin);
    if (literal.empty() || literal.find_first_of("'\"{}+") != std::string::npos) continue;
    std::string out;  // Jinja string escapes
    for (std::size_t i = 0; i < literal.size(); ++i) {
      if (literal[i] == '\\' && i + 1 < literal.size() && literal[i + 1] == 'n') {
        out += '\n';
        ++i;
      } else {
        out += literal[i];
      }
    }
    return out;
  }
  return "";
}

std::string known_names() {
  std::string s;
  for (const std::string& n : chat_template_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string format_llama3(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool prompt) {
  auto turn = [](const std::string& role, const std::string& content) {
    return "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + content + "<|eot_id|>";
  };
  std::string out = t.bos_text;
  std::size_t first = 0;
  if (t.knowledge_date) {  // Llama 3.1+: the system block is always there, with the dates
    std::string system;
    if (!messages.empty() && messages[0].role == "system") {
      system = trim(messages[0].content);
      first = 1;
    }
    out += turn("system", "Cutting Knowledge Date: December 2023\nToday Date: " + t.date_string + "\n\n" + system);
  }
  for (std::size_t i = first; i < messages.size(); ++i) out += turn(messages[i].role, trim(messages[i].content));
  if (prompt || t.always_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string format_chatml(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool prompt) {
  auto turn = [](const std::string& role, const std::string& content) {
    return "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
  };
  std::string out;
  if ((messages.empty() || messages[0].role != "system") && !t.default_system.empty())
    out += turn("system", t.default_system);
  std::size_t last_query = messages.empty() ? 0 : messages.size() - 1;  // Qwen 3: the last user message
  for (std::size_t i = messages.size(); i-- > 0;)
    if (messages[i].role == "user") {
      last_query = i;
      break;
    }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "assistant" || !t.think_blocks) {
      out += turn(m.role, m.content);
      continue;
    }
    std::string content = m.content, reasoning;
    if (const std::size_t end = content.find("</think>"); end != std::string::npos) {
      std::string before = content.substr(0, end);
      while (!before.empty() && before.back() == '\n') before.pop_back();
      const std::size_t open = before.rfind("<think>");
      reasoning = strip_newlines_left(open == std::string::npos ? before : before.substr(open + 7));
      content = strip_newlines_left(content.substr(content.rfind("</think>") + 8));
    }
    const bool last = i + 1 == messages.size();
    if (i > last_query && (last || !reasoning.empty()))
      out +=
          turn("assistant", "<think>\n" + strip_newlines(reasoning) + "\n</think>\n\n" + strip_newlines_left(content));
    else
      out += turn("assistant", content);
  }
  if (prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string format_gemma(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool prompt) {
  std::string out = t.bos_text, system_prefix;
  std::size_t first = 0;
  if (!messages.empty() && messages[0].role == "system") {  // Gemma has no system turn: it opens the first one
    system_prefix = messages[0].content + "\n\n";
    first = 1;
  }
  for (std::size_t i = first; i < messages.size(); ++i) {
    const std::string role = messages[i].role == "assistant" ? "model" : messages[i].role;
    out += "<start_of_turn>" + role + "\n" + (i == first ? system_prefix : "") + trim(messages[i].content) +
           "<end_of_turn>\n";
  }
  if (prompt) out += "<start_of_turn>model\n";
  return out;
}

std::string format_phi3(const ChatTemplate& t, const std::vector<ChatMessage>& messages, bool prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    if (m.role == "system" && m.content.empty()) continue;
    out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
  }
  if (prompt)
    out += "<|assistant|>\n";
  else if (t.eos_without_prompt)
    out += t.eos_text;
  return out;
}

}  // namespace

const std::vector<std::string>& chat_template_names() {
  static const std::vector<std::string> names = {"llama3", "chatml", "gemma", "phi3"};
  return names;
}

ChatTemplate chat_template_by_name(const std::string& name, const std::string& bos_text, const std::string& eos_text) {
  ChatTemplate t;
  t.name = name;
  t.eos_text = eos_text;
  if (name == "llama3") {
    t.family = ChatFamily::kLlama3;
    t.bos_text = bos_text;
  } else if (name == "chatml") {
    t.family = ChatFamily::kChatml;
  } else if (name == "gemma") {
    t.family = ChatFamily::kGemma;
    t.bos_text = bos_text;
  } else if (name == "phi3") {
    t.family = ChatFamily::kPhi3;
  } else {
    throw std::invalid_argument("unknown chat template '" + name + "' (known: " + known_names() + ")");
  }
  return t;
}

ChatTemplate chat_template_from_text(const std::string& text, const std::string& bos_text,
                                     const std::string& eos_text) {
  std::vector<std::string> found;
  if (contains(text, "<|start_header_id|>") && contains(text, "<|end_header_id|>") && contains(text, "<|eot_id|>"))
    found.push_back("llama3");
  if (contains(text, "<|im_start|>") && contains(text, "<|im_end|>") && !contains(text, "<|im_sep|>"))
    found.push_back("chatml");
  if (contains(text, "<start_of_turn>") && contains(text, "<end_of_turn>")) found.push_back("gemma");
  if (contains(text, "<|user|>") && contains(text, "<|assistant|>") && contains(text, "<|end|>"))
    found.push_back("phi3");
  const std::string start = text.substr(0, 80);
  if (found.empty())
    throw std::invalid_argument("tokenizer.chat_template is of no known family (" + known_names() + "); it begins '" +
                                start + "'; choose one with --chat-template NAME");
  if (found.size() > 1)
    throw std::invalid_argument("tokenizer.chat_template has the markers of " + found[0] + " and " + found[1] +
                                "; choose one with --chat-template NAME");
  ChatTemplate t = chat_template_by_name(found[0], bos_text, eos_text);
  if (t.family == ChatFamily::kLlama3) {
    t.knowledge_date = contains(text, "Cutting Knowledge Date");
    t.always_prompt = !contains(text, "add_generation_prompt");
  }
  if (t.family == ChatFamily::kChatml) {
    t.default_system = default_system_message(text);
    t.think_blocks = contains(text, "<think>") && contains(text, "</think>") && contains(text, "reasoning_content");
  }
  t.eos_without_prompt = t.family == ChatFamily::kPhi3 && contains(text, "eos_token");
  return t;
}

ChatTemplate detect_chat_template(const GgufFile& file, const std::string& override_name) {
  auto token_text = [&](const char* key) -> std::string {
    if (!file.has(key) || !file.has("tokenizer.ggml.tokens")) return "";
    const std::vector<std::string>& tokens = file.get_string_array("tokenizer.ggml.tokens");
    const std::uint64_t id = file.get_uint(key);
    return id < tokens.size() ? tokens[id] : "";
  };
  const std::string bos = token_text("tokenizer.ggml.bos_token_id"), eos = token_text("tokenizer.ggml.eos_token_id");
  if (!override_name.empty()) return chat_template_by_name(override_name, bos, eos);
  if (!file.has("tokenizer.chat_template"))
    throw std::invalid_argument("the model has no tokenizer.chat_template; choose one with --chat-template NAME (" +
                                known_names() + ")");
  return chat_template_from_text(file.get_string("tokenizer.chat_template"), bos, eos);
}

std::string apply_chat_template(const ChatTemplate& tmpl, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  for (const ChatMessage& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw std::invalid_argument("chat message role '" + m.role + "' is not system, user or assistant");
  switch (tmpl.family) {
    case ChatFamily::kLlama3:
      return format_llama3(tmpl, messages, add_generation_prompt);
    case ChatFamily::kChatml:
      return format_chatml(tmpl, messages, add_generation_prompt);
    case ChatFamily::kGemma:
      return format_gemma(tmpl, messages, add_generation_prompt);
    case ChatFamily::kPhi3:
      return format_phi3(tmpl, messages, add_generation_prompt);
  }
  throw std::logic_error("unknown chat family");
}

std::vector<std::int32_t> encode_chat_prompt(const Tokenizer& tokenizer, const std::string& text) {
  std::vector<std::int32_t> ids = tokenizer.encode(text, false, true);
  if (tokenizer.add_bos() && (ids.empty() || ids[0] != tokenizer.bos())) ids.insert(ids.begin(), tokenizer.bos());
  return ids;
}

}  // namespace veloxquant
