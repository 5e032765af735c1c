"""Weight quantization with products on the codes (the seed project's `mlx_kv_quant.weight`).

A weight matrix W (out_features × in_features, the PyTorch / Hugging Face / GGUF row layout) is
stored row by row like keys of the KV cache: per record an fp16 scale and TurboQuant codes of the
rotated row, ``Quantizer("tq{bits}", block, seed)``. A product y = x·Wᵀ never decodes W: each input
block is rotated once per token and every row is scored on its codes by the library's kernels
(``Quantizer.inner_products``), as the runner's ``--weights tq4`` does (docs/runner.md).

    layer = QuantizedLinear(in_features=768, out_features=256, bits=4, use_hadamard=True)
    layer.quantize_weights(W, bias=b)      # W: numpy array or torch tensor (out, in)
    y = layer(x)                           # x (..., 768): numpy → numpy, torch → torch

use_hadamard=True stores each row as records of ``block`` columns, the largest power of two
dividing in_features up to 256 (a randomized Hadamard rotation per block, O(b log b); 768 → 3 ×
256), as the runner's ``tq4:block=256``; when in_features has no power-of-two divisor of at least
32 it falls back to one record per row. use_hadamard=False stores one record per row with the
rotation the library uses for that width (Hadamard for powers of two, a dense Haar matrix up to
1024, an overlapping Hadamard above). ``memory_bytes`` is what the codes (scales included) and
the bias take; ``relative_error`` is ‖W − Ŵ‖ / ‖W‖ measured when quantizing.

``quantize_model(weights, bits=4, use_hadamard=True)`` quantizes every 2-D weight of a dict
{name: array} (bias ``<prefix>.bias`` attached to ``<prefix>.weight``) or every ``torch.nn.Linear``
of a torch module, skipping embeddings and the output head by name (``skip_embeddings``: names
with embed, embd, tok_emb or lm_head, and GGUF's ``output.weight``).
``compression_report(model)`` sums the layers as the seed's report did.
"""
import math
import numbers

import numpy as np

from ._core import Quantizer

_MAX_BLOCK = 256
_MIN_BLOCK = 32
_EMBEDDING_NAMES = ("embed", "embd", "lm_head", "tok_emb")


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _to_numpy(x, name):
    if _is_torch(x):
        x = x.detach().cpu()
        return x.numpy() if x.dtype.is_floating_point and x.dtype != _torch().bfloat16 else x.float().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return a


def _torch():
    import torch

    return torch


def hadamard_block(in_features):
    """Columns per record with use_hadamard=True: the largest power of two dividing in_features, at
    most 256; in_features itself when that is below 32."""
    block = 1
    while block < _MAX_BLOCK and in_features % (2 * block) == 0:
        block *= 2
    return block if block >= _MIN_BLOCK else in_features


class QuantizedLinear:
    """y = x·Ŵᵀ + b with Ŵ stored as TurboQuant codes (see the module docstring)."""

    def __init__(self, in_features, out_features, bits=4, use_hadamard=True, bias=True, seed=42):
        for name, v in (("in_features", in_features), ("out_features", out_features), ("bits", bits)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if in_features < 2:
            raise ValueError(f"in_features must be >= 2 (TurboQuant rotates each row), got {in_features}")
        self.in_features, self.out_features, self.bits = int(in_features), int(out_features), int(bits)
        self.use_hadamard, self.has_bias, self.seed = bool(use_hadamard), bool(bias), seed
        self.block = hadamard_block(self.in_features) if use_hadamard else self.in_features
        self.quantizer = Quantizer(f"tq{self.bits}", dim=self.block, seed=seed)
        self.codes = None  # uint8 [in_features / block, out_features, code_size]
        self.bias = None
        self.weight_norm = None  # ‖W‖, and ‖W − Ŵ‖ / ‖W‖, measured by quantize_weights
        self.relative_error = None

    @property
    def blocks(self):
        return self.in_features // self.block

    def quantize_weights(self, weight, bias=None):
        """Stores W (out_features, in_features) as codes, and the bias (kept in float32)."""
        w = np.ascontiguousarray(_to_numpy(weight, "weight"), dtype=np.float32)
        if w.shape != (self.out_features, self.in_features):
            raise ValueError(f"weight must have shape ({self.out_features}, {self.in_features}), got {w.shape}")
        if bias is not None and not self.has_bias:
            raise ValueError("this layer was made with bias=False")
        parts = w.reshape(self.out_features, self.blocks, self.block).transpose(1, 0, 2)  # (blocks, out, block)
        self.codes = np.stack([self.quantizer.encode(np.ascontiguousarray(p)) for p in parts])
        decoded = np.stack([self.quantizer.decode(c) for c in self.codes]).transpose(1, 0, 2).reshape(w.shape)
        self.weight_norm = float(np.linalg.norm(w))
        error = float(np.linalg.norm(w - decoded))
        self.relative_error = error / self.weight_norm if self.weight_norm > 0 else 0.0
        if bias is not None:
            b = np.asarray(_to_numpy(bias, "bias"), dtype=np.float32)
            if b.shape != (self.out_features,):
                raise ValueError(f"bias must have shape ({self.out_features},), got {b.shape}")
            self.bias = b.copy()
        return self

    def __call__(self, x):
        """x (..., in_features) → (..., out_features); numpy in, numpy out (float32); torch in, torch
        out (the input's dtype)."""
        if self.codes is None:
            raise RuntimeError("quantize_weights has not been called")
        torch_in = _is_torch(x)
        a = _to_numpy(x, "x")
        if a.shape[-1:] != (self.in_features,):
            raise ValueError(f"x must have shape (..., {self.in_features}), got {a.shape}")
        rows = np.ascontiguousarray(a.reshape(-1, self.in_features), dtype=np.float32)
        y = np.zeros((rows.shape[0], self.out_features), np.float32)
        for b in range(self.blocks):
            y += self.quantizer.inner_products(rows[:, b * self.block:(b + 1) * self.block], self.codes[b])
        if self.bias is not None:
            y += self.bias
        y = y.reshape(*a.shape[:-1], self.out_features)
        if torch_in:
            return _torch().from_numpy(y).to(x.dtype)
        return y

    forward = __call__

    @property
    def memory_bytes(self):
        """Bytes of the codes (scales included) and the bias."""
        codes = 0 if self.codes is None else self.codes.nbytes
        return codes + (0 if self.bias is None else self.bias.nbytes)

    @property
    def fp16_bytes(self):
        """What the layer takes in fp16 (weight and bias)."""
        return 2 * self.out_features * self.in_features + (2 * self.out_features if self.bias is not None else 0)

    @property
    def bits_per_weight(self):
        """Measured from the stored codes: 8 · code bytes / weights."""
        return 0.0 if self.codes is None else 8.0 * self.codes.nbytes / (self.out_features * self.in_features)

    def compression_ratio(self):
        return self.fp16_bytes / self.memory_bytes if self.memory_bytes else 0.0

    def dequantize(self):
        """Ŵ as float32 (out_features, in_features), for checking; products never need it."""
        decoded = np.stack([self.quantizer.decode(c) for c in self.codes])
        return decoded.transpose(1, 0, 2).reshape(self.out_features, self.in_features)

    def __repr__(self):
        ratio = f", compression={self.compression_ratio():.1f}x" if self.codes is not None else ""
        return (f"QuantizedLinear(in={self.in_features}, out={self.out_features}, bits={self.bits}, "
                f"block={self.block}{ratio})")


def _embedding_like(name):
    """Embeddings and output heads, by name (as the seed skipped them): GGUF's token_embd and output."""
    return any(key in name.lower() for key in _EMBEDDING_NAMES) or name in ("output", "output.weight")


def quantize_model(model, bits=4, use_hadamard=True, skip_embeddings=True, seed=42):
    """A dict {name: array}: returns a new dict whose 2-D weights are QuantizedLinear layers (their
    `.bias` entries attached), other entries unchanged. A torch.nn.Module: replaces its nn.Linear
    children in place with veloxquant.torch.QuantizedLinearModule and returns it. Layer i gets
    seed + i."""
    if isinstance(model, dict):
        return _quantize_dict(model, bits, use_hadamard, skip_embeddings, seed)
    torch = _torch()
    if isinstance(model, torch.nn.Module):
        from .torch import QuantizedLinearModule

        count = 0
        for name, module in list(model.named_modules()):
            for child_name, child in list(module.named_children()):
                full = f"{name}.{child_name}" if name else child_name
                if not isinstance(child, torch.nn.Linear) or (skip_embeddings and _embedding_like(full)):
                    continue
                layer = QuantizedLinear(child.in_features, child.out_features, bits, use_hadamard,
                                        child.bias is not None, seed + count)
                layer.quantize_weights(child.weight, child.bias)
                setattr(module, child_name, QuantizedLinearModule(layer))
                count += 1
        return model
    raise TypeError(f"quantize_model takes a dict of arrays or a torch.nn.Module, got {type(model).__name__}")


def _quantize_dict(weights, bits, use_hadamard, skip_embeddings, seed):
    out, used_bias, count = {}, set(), 0
    for name, value in weights.items():
        shape = tuple(getattr(value, "shape", ()))
        if len(shape) != 2 or (skip_embeddings and _embedding_like(name)):
            continue
        bias_name = name[: -len("weight")] + "bias" if name.endswith("weight") else None
        bias = weights.get(bias_name) if bias_name else None
        layer = QuantizedLinear(shape[1], shape[0], bits, use_hadamard, bias is not None, seed + count)
        out[name] = layer.quantize_weights(value, bias)
        count += 1
        if bias is not None:
            used_bias.add(bias_name)
    return {name: out.get(name, value) for name, value in weights.items() if name not in used_bias}


def _layers(model):
    if isinstance(model, dict):
        return [v for v in model.values() if isinstance(v, QuantizedLinear)]
    return [m.layer for m in model.modules() if hasattr(m, "layer") and isinstance(m.layer, QuantizedLinear)]


def compression_report(model):
    """n_layers, total_fp16_mb, total_compressed_mb, compression_ratio (the seed's keys), plus
    bits_per_weight (measured) and relative_error (‖W − Ŵ‖/‖W‖ over all quantized layers)."""
    layers = _layers(model)
    compressed = sum(layer.memory_bytes for layer in layers)
    fp16 = sum(layer.fp16_bytes for layer in layers)
    weights = sum(layer.in_features * layer.out_features for layer in layers)
    codes = sum(layer.codes.nbytes for layer in layers)
    err_sq = sum((layer.relative_error * layer.weight_norm) ** 2 for layer in layers)
    norm_sq = sum(layer.weight_norm ** 2 for layer in layers)
    return {
        "n_layers": len(layers),
        "total_compressed_mb": compressed / 1024**2,
        "total_fp16_mb": fp16 / 1024**2,
        "compression_ratio": fp16 / compressed if compressed else 0.0,
        "bits_per_weight": 8.0 * codes / weights if weights else 0.0,
        "relative_error": math.sqrt(err_sq / norm_sq) if norm_sq else 0.0,
    }
