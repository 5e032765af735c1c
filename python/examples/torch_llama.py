"""A small PyTorch Llama whose attention runs in the compressed veloxquant cache (veloxquant.torch).

Reads any GGUF `llama` model with veloxquant's GGUF reader and computes what the library's runner
computes (src/runner/llama_forward.cpp): RMSNorm, Q/K/V projections, RoPE on adjacent pairs
(x[2i], x[2i+1], llama.cpp's mode for `llama`), attention, SwiGLU MLP. Only the attention differs
from a plain PyTorch decoder layer: it is veloxquant.torch.attention over the layer's cache.

    PYTHONPATH=build/python /usr/bin/python3 python/examples/torch_llama.py ../shared/models/tiny-llama-5m-f32.gguf

prints the KL divergence of tq4 and tq3 caches against the f32 cache on the first 512 test tokens.
python/tests/test_torch_llama.py checks it against the runner.
"""
import sys

import numpy as np
import torch

import veloxquant as vq
import veloxquant.torch as vqt


class TinyLlama(torch.nn.Module):
    def __init__(self, gguf_path):
        super().__init__()
        meta, tensors = vq.read_gguf(gguf_path)
        if meta.get("general.architecture") != "llama":
            raise ValueError(f"{gguf_path} is not a llama model")
        self.dim = meta["llama.embedding_length"]
        self.n_layers = meta["llama.block_count"]
        self.heads = meta["llama.attention.head_count"]
        self.kv_heads = meta.get("llama.attention.head_count_kv", self.heads)
        self.head_dim = self.dim // self.heads
        self.eps = meta.get("llama.attention.layer_norm_rms_epsilon", 1e-5)
        rope_dim = meta.get("llama.rope.dimension_count", self.head_dim)
        base = meta.get("llama.rope.freq_base", 10000.0)
        # base^(−2i/rope_dim) in double, as the runner computes its angles.
        self.inv_freq = torch.tensor([base ** (-2.0 * i / rope_dim) for i in range(rope_dim // 2)], dtype=torch.float64)
        w = {name: torch.from_numpy(a) for name, a in tensors.items()}
        self.embedding = w["token_embd.weight"]
        self.output = w.get("output.weight", self.embedding)
        self.output_norm = w["output_norm.weight"]
        self.blocks = [{part: w[f"blk.{l}.{part}.weight"] for part in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
            for l in range(self.n_layers)]

    def make_cache(self, key_format="f32", value_format=None, window=128, sinks=4, seed=0):
        return vqt.KVCache(layers=self.n_layers, kv_heads=self.kv_heads, q_heads=self.heads, head_dim=self.head_dim,
                           key_format=key_format, value_format=value_format or key_format, window=window,
                           sinks=sinks, seed=seed)

    def rms_norm(self, x, weight):
        ms = (x.double() ** 2).mean(-1, keepdim=True)
        return x * (1.0 / torch.sqrt(ms + self.eps)).float() * weight

    def rope(self, x, pos0):
        """x (tokens, heads, head_dim): rotate pairs (x[2i], x[2i+1]) by position · inv_freq[i]."""
        pos = torch.arange(pos0, pos0 + x.shape[0], dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        cos, sin = torch.cos(pos).float()[:, None, :], torch.sin(pos).float()[:, None, :]
        n = 2 * self.inv_freq.numel()
        a, b = x[..., 0:n:2], x[..., 1:n:2]
        out = x.clone()
        out[..., 0:n:2] = a * cos - b * sin
        out[..., 1:n:2] = a * sin + b * cos
        return out

    @torch.no_grad()
    def forward(self, tokens, cache):
        """Logits (len(tokens), vocab) of tokens at positions len(cache) ..; appends to cache."""
        pos0 = len(cache)
        x = self.embedding[torch.as_tensor(tokens, dtype=torch.long)]
        t = x.shape[0]
        for layer, blk in enumerate(self.blocks):
            h = self.rms_norm(x, blk["attn_norm"])
            q = self.rope((h @ blk["attn_q"].T).view(t, self.heads, self.head_dim), pos0)
            k = self.rope((h @ blk["attn_k"].T).view(t, self.kv_heads, self.head_dim), pos0)
            v = (h @ blk["attn_v"].T).view(t, self.kv_heads, self.head_dim)
            att = vqt.attention(q.contiguous(), k.contiguous(), v.contiguous(), cache, layer)
            x = x + att.reshape(t, self.dim) @ blk["attn_output"].T
            h = self.rms_norm(x, blk["ffn_norm"])
            gate, up = h @ blk["ffn_gate"].T, h @ blk["ffn_up"].T
            x = x + (torch.nn.functional.silu(gate) * up) @ blk["ffn_down"].T
        return self.rms_norm(x, self.output_norm) @ self.output.T


def kl_divergence(base_logits, logits):
    """Mean over positions of KL(p_base || p) of the next-token distributions, in float64."""
    lb = torch.log_softmax(base_logits.double(), -1)
    lp = torch.log_softmax(logits.double(), -1)
    return float((lb.exp() * (lb - lp)).sum(-1).clamp(min=0).mean())


def main(path, tokens_path="../shared/models/test.u16", ctx=512):
    model = TinyLlama(path)
    tokens = np.fromfile(tokens_path, dtype="<u2")[:ctx].astype(np.int64)
    base = model(tokens, model.make_cache("f32"))
    for fmt in ("tq4", "tq3"):
        print(f"{fmt}: kld {kl_divergence(base, model(tokens, model.make_cache(fmt))):.5f} against the f32 cache, "
              f"{ctx} tokens, window 128, sinks 4")


if __name__ == "__main__":
    main(*sys.argv[1:])
