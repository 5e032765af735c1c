// The model architectures the runner loads, each described as data: which optional parts it
// has, how its rope pairs dimensions, how its tensors are laid out and which activation it uses. The loader
// (runner/llama_model.cpp), the forward passes and the synthetic model writer (weights/model_convert.cpp) read these
// fields; adding an architecture of the same block structure is one row of the table in architecture.cpp.
//
// Tensor and metadata names follow llama.cpp's GGUF conventions: metadata keys are
// "<name>.embedding_length" etc., tensors "blk.N.attn_q.weight", "blk.N.attn_q.bias",
// "blk.N.attn_q_norm.weight", "rope_freqs.weight".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace veloxquant {

// Whether a model part's tensors must be, may be or must not be in the file.
enum class Need { kAbsent, kOptional, kRequired };

// Which dimensions of a head rope rotates together (llama.cpp's rope modes): kAdjacentPairs
// (x[2i], x[2i+1]), llama's mode 0; kNeoxHalves (x[i], x[i + rope_dim/2]), GPT-NeoX's mode 2.
enum class RopeKind { kAdjacentPairs, kNeoxHalves };

// The gated MLP's activation: act(gate) · up. kGeluTanh is GELU's tanh form as ggml computes it
// (runner/llama_forward.h).
enum class Activation { kSilu, kGeluTanh };

struct Architecture {
  std::string name;  // general.architecture and the prefix of its metadata keys
  RopeKind rope = RopeKind::kAdjacentPairs;
  Need qkv_bias = Need::kAbsent;    // blk.N.attn_{q,k,v}.bias, added after the projections
  Need qk_norm = Need::kAbsent;     // blk.N.attn_{q,k}_norm.weight: RMSNorm of each head before rope
  Need rope_freqs = Need::kAbsent;  // rope_freqs.weight: a divisor per frequency (Llama 3.1's scaling)
  // blk.N.attn_qkv.weight: the Q, K and V rows stacked in one matrix, instead of attn_{q,k,v}.
  bool fused_qkv = false;
  // blk.N.ffn_up.weight of 2·ffn rows: the gate rows, then the up rows (ggml_swiglu's halves),
  // instead of ffn_gate and ffn_up.
  bool fused_gate_up = false;
  Need output = Need::kOptional;  // output.weight; the output is token_embd.weight when absent
  Activation activation = Activation::kSilu;
  bool embedding_scaled = false;  // token embeddings × √embedding_length
  // blk.N.post_attention_norm.weight, blk.N.post_ffw_norm.weight: RMSNorm of the attention and MLP
  // outputs before they join the residual.
  bool post_norms = false;
  // <name>.attn_logit_softcapping (scores) and .final_logit_softcapping (logits): x → c·tanh(x/c),
  // with these defaults where the keys are absent; 0: no soft-capping.
  float attn_softcap = 0.0f, final_softcap = 0.0f;
  // Sliding-window layers: l is local when l % pattern < pattern − 1 (llama.cpp's rule;
  // <name>.attention.sliding_window_pattern overrides it) and attends to its last
  // <name>.attention.sliding_window tokens (default `sliding_window`; 0: without the key, every
  // layer is global, as llama.cpp loads gemma3); pattern 0: none.
  std::size_t swa_pattern = 0, sliding_window = 0;
  // The block count at which llama.cpp scales queries by 1/√(dim / heads) rather than
  // 1/√head_dim (gemma2 27B's query_pre_attn_scalar, which the GGUF does not store); 0: never.
  std::size_t dim_scaled_queries_at_layers = 0;
  // The rope base of the sliding-window layers, without the global layers' frequency scaling
  // (gemma3's 10000, which llama.cpp fixes whatever the file says); 0: as the global layers.
  double swa_rope_base = 0.0;
};

const std::vector<Architecture>& architectures();

// The architecture of that name; throws std::runtime_error naming it and the supported ones.
const Architecture& find_architecture(const std::string& name);

}  // namespace veloxquant
