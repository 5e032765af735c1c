// Chat prompts of the model families whose tokenizer.chat_template we recognise. The template
// text is not run (no Jinja): its distinctive markers name the family, and a few of its
// variations (Llama 3.1's knowledge-date system block, the first Llama 3 template's unconditional
// generation prompt, Qwen's default system message and think blocks, Phi-3's closing EOS) are read off it. Each family
// then formats as its template does:
//
//   llama3: BOS "<|start_header_id|>" role "<|end_header_id|>\n\n" trim(content) "<|eot_id|>" ...
//           generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n"
//   chatml: "<|im_start|>" role "\n" content "<|im_end|>\n" ...; prompt "<|im_start|>assistant\n"
//   gemma:  BOS "<start_of_turn>" (user|model) "\n" [system "\n\n" in the first turn]
//           trim(content) "<end_of_turn>\n" ...; prompt "<start_of_turn>model\n"
//   phi3:   "<|" role "|>\n" content "<|end|>\n" ...; prompt "<|assistant|>\n"
#pragma once

#include <string>
#include <vector>

#include "io/gguf.h"
#include "runner/tokenizer.h"

namespace veloxquant {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFamily { kLlama3, kChatml, kGemma, kPhi3 };

struct ChatTemplate {
  ChatFamily family = ChatFamily::kChatml;
  std::string name;      // "llama3", "chatml", "gemma", "phi3"
  std::string bos_text;  // the BOS token's text, where the template starts with it (llama3, gemma)
  std::string eos_text;  // the EOS token's text (phi3 ends a prompt without generation prompt with it)
  // llama3: Llama 3.1+ templates always open with a system block carrying these dates.
  bool knowledge_date = false;
  std::string date_string = "26 Jul 2024";  // the templates' own default
  // llama3: the first Llama 3 template wrote the generation prompt whatever add_generation_prompt says.
  bool always_prompt = false;
  // chatml: the system message the template writes when the conversation has none (Qwen 2/2.5).
  std::string default_system;
  // chatml: Qwen 3's <think> blocks (the last assistant turn after the last user message gets
  // "<think>\n...\n</think>\n\n"; earlier ones lose their reasoning).
  bool think_blocks = false;
  // phi3: the template writes eos_text when there is no generation prompt.
  bool eos_without_prompt = false;
};

// The known family names, for messages and --chat-template.
const std::vector<std::string>& chat_template_names();

// The template of a model: by `override_name` when it is not empty, else recognised from
// tokenizer.chat_template. BOS/EOS texts come from the vocabulary. Throws std::invalid_argument
// naming an unknown override, a missing template or one of no known family.
ChatTemplate detect_chat_template(const GgufFile& file, const std::string& override_name);
// Recognises a template text alone (bos/eos texts as given).
ChatTemplate chat_template_from_text(const std::string& text, const std::string& bos_text, const std::string& eos_text);
// A family by name with its plain variant.
ChatTemplate chat_template_by_name(const std::string& name, const std::string& bos_text, const std::string& eos_text);

// The prompt text for `messages`; with add_generation_prompt it ends where the assistant's reply
// begins. Throws std::invalid_argument on an unknown role.
std::string apply_chat_template(const ChatTemplate& tmpl, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

// The tokens of a whole templated prompt: special tokens parsed, BOS first where the model adds one
// and the template did not write it.
std::vector<std::int32_t> encode_chat_prompt(const Tokenizer& tokenizer, const std::string& text);

}  // namespace veloxquant
