// `veloxquant run --chat`: the interactive multi-turn mode of `run` (tools/run_chat.cpp).
#pragma once

#include "args.h"
#include "runner/llama_model.h"
#include "runner/thread_pool.h"
#include "runner/tokenizer.h"

namespace veloxquant::cli {

// Reads user turns from stdin (one line each, until EOF), prints each reply on stdout and per
// turn the tokens run and generated on stderr. Options: --chat-template NAME, --system TEXT,
// -n (tokens per reply), --temp, --seed and the cache options of `run`.
int run_chat(const Args& args, const LlamaModel& model, const Tokenizer& tokenizer, ThreadPool& pool);

}  // namespace veloxquant::cli
