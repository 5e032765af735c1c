"""PyTorch interface: a compressed KV cache that takes and returns torch tensors, an attention
function for a decoder layer, and quantized linear layers (docs/python.md, "PyTorch").

    import veloxquant.torch as vqt
    cache = vqt.KVCache(layers=4, kv_heads=2, q_heads=4, head_dim=64, key_format="tq4", value_format="tq4")
    out = vqt.attention(q, k, v, cache, layer)   # q (T, 4, 64), k, v (T, 2, 64) -> (T, 4, 64)

Tensors are (tokens, heads, head_dim) on the CPU. Contiguous float32 tensors are passed to the
library by pointer, and attend writes straight into the returned tensor's memory: no copies.
float16 tensors are read by pointer and converted to float32 once inside the binding (the cache
computes in float32), and the float32 output is converted back once. Other dtypes, non-contiguous
or non-CPU tensors are copied to contiguous float32 CPU first.

Hugging Face's ``Cache.update(key_states, value_states, layer_idx)`` appends a layer's new keys and
values and returns all of them, for the model's own attention to multiply with. This cache keeps
them compressed and computes attention on the codes, so the attention itself moves into the
cache: ``update`` appends (``(batch=1, kv_heads, seq, head_dim)`` as Hugging Face passes them) and
``attend_states(query_states, layer_idx)`` returns the layer's attention output ``(1, q_heads, seq,
head_dim)``, causal over every cached token: what ``softmax(Q·Kᵀ·scale + causal mask)·V`` gives
with the returned keys and values.
"""
import torch

from . import _core
from .weights import QuantizedLinear


def _view(t, name):
    """A numpy array sharing t's memory when it is a contiguous float32/float16 CPU tensor."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.requires_grad:
        t = t.detach()
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float16) or not t.is_contiguous():
        t = t.to(device="cpu", dtype=torch.float32).contiguous()
    return t.numpy()


class KVCache:
    """veloxquant.KVCache (same arguments and defaults) taking and returning torch tensors."""

    def __init__(self, layers=1, kv_heads=1, head_dim=128, q_heads=0, key_format="tq3", value_format="",
                 exact_format="auto", window=128, sinks=4, max_tokens=0, seed=0, scale=0.0, threads=1):
        self.cache = _core.KVCache(layers=layers, kv_heads=kv_heads, q_heads=q_heads, head_dim=head_dim,
                                   key_format=key_format, value_format=value_format, exact_format=exact_format,
                                   window=window, sinks=sinks, max_tokens=max_tokens, seed=seed, scale=scale,
                                   threads=threads)
        c = self.cache.config
        self.layers, self.kv_heads, self.q_heads, self.head_dim = c["layers"], c["kv_heads"], c["q_heads"], c["head_dim"]

    def append(self, k, v, layer=0):
        """k, v: (tokens, kv_heads, head_dim)."""
        self.cache.append(_view(k, "k"), _view(v, "v"), layer)

    def attend(self, q, layer=0):
        """q: (tokens, q_heads, head_dim), the newest len(q) positions -> a tensor of q's shape and
        dtype (float32 for dtypes other than float16)."""
        out = torch.empty(tuple(q.shape), dtype=torch.float32)
        self.cache.attend(_view(q, "q"), layer, out.numpy())
        return out.to(torch.float16) if q.dtype == torch.float16 else out

    def __len__(self):
        return len(self.cache)

    def get_seq_length(self, layer_idx=0):
        """Tokens held by a layer (Hugging Face's name)."""
        return self.cache.size(layer_idx)

    def memory_bytes(self):
        return self.cache.memory_bytes()

    def truncate(self, n_tokens):
        """Keeps the first n_tokens of every layer (Hugging Face's crop)."""
        self.cache.truncate(n_tokens)

    crop = truncate

    def clear(self):
        self.cache.clear()

    # Hugging Face layout: (batch, heads, seq, head_dim), batch 1.
    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        """Appends (1, kv_heads, seq, head_dim) keys and values to layer_idx. Unlike Hugging Face's
        Cache.update it returns nothing: attention runs on the codes, in attend_states."""
        self.append(_seq_first(key_states, "key_states"), _seq_first(value_states, "value_states"), layer_idx)

    def attend_states(self, query_states, layer_idx):
        """(1, q_heads, seq, head_dim) queries of the newest seq positions -> their causal attention
        output in the same layout."""
        return self.attend(_seq_first(query_states, "query_states"), layer_idx).transpose(0, 1).unsqueeze(0)


def _seq_first(t, name):
    if t.dim() != 4 or t.shape[0] != 1:
        raise ValueError(f"{name} must have shape (1, heads, seq, head_dim), got {tuple(t.shape)}")
    return t[0].transpose(0, 1)  # (seq, heads, head_dim): a view for seq = 1, copied to contiguous else


def attention(q, k, v, cache, layer):
    """A decoder layer's attention: appends this step's k, v (tokens, kv_heads, head_dim) to the
    layer's cache and returns the causal attention of q (tokens, q_heads, head_dim) over every
    token the layer holds (the earlier ones and these)."""
    cache.append(k, v, layer)
    return cache.attend(q, layer)


class QuantizedLinearModule(torch.nn.Module):
    """A torch.nn.Module around veloxquant.weights.QuantizedLinear (products on the codes)."""

    def __init__(self, layer: QuantizedLinear):
        super().__init__()
        self.layer = layer
        self.in_features, self.out_features = layer.in_features, layer.out_features

    def forward(self, x):
        return self.layer(x)

    def extra_repr(self):
        return repr(self.layer)


__all__ = ["KVCache", "attention", "QuantizedLinearModule", "QuantizedLinear"]
