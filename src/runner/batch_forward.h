// One forward step for several independent sequences at once (a server's sessions): the tokens
// of all sequences are stacked as the rows of one batch, so every weight matrix is read once per
// step for all of them, while each sequence attends through its own KvStore at its own positions.
// A sequence may bring one token (decode) or several (a chunk of its prompt).
//
// The arithmetic per row is that of LlamaSession::forward, and matmul's product of a row does not
// depend on the other rows of the batch, so a sequence gets bit for bit the logits it would get
// stepped alone (tests/runner_batch_forward_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/thread_pool.h"

namespace veloxquant {

struct SequenceStep {
  KvStore* store = nullptr;              // keys and values so far; the tokens go at positions size() …
  const std::int32_t* tokens = nullptr;  // n ≥ 1 token ids
  std::size_t n = 0;
  float* logits = nullptr;  // [vocab] for the last token, or nullptr when not needed
};

class BatchForward {
 public:
  BatchForward(const LlamaModel& model, ThreadPool& pool);

  // Runs every step's tokens and appends their keys and values to the step's store. Throws
  // std::invalid_argument (before any store changes) on a token id outside the vocabulary, an
  // empty step or a store used twice in one call.
  void run(const std::vector<SequenceStep>& steps);

 private:
  const LlamaModel& model_;
  ThreadPool& pool_;
  ModelRopes ropes_;
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, last_, logits_;
};

}  // namespace veloxquant
