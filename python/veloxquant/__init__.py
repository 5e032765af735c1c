"""veloxquant: transformer KV-cache compression to 2-4 bits per number, attention on the codes.

The compiled part lives in veloxquant._core; this package re-exports it and adds the seed
project's fluent KVCacheBuilder. Submodules: veloxquant.observers (cache observers),
veloxquant.artifacts (artifact stores), veloxquant.weights (weight quantization with products on
the codes), veloxquant.torch (PyTorch tensors; needs torch), veloxquant.bench (the benchmarks of
`python -m mlx_kv_quant`).
"""
from ._core import (  # noqa: F401
    KVCache,
    Quantizer,
    __version__,
    formats,
    gaussian_matrix,
    llama_logits,
    load_artifacts,
    load_cache,
    polar_angle_codebook,
    purpose_seed,
    read_gguf,
    rotation_matrix,
    set_sphere_codebook,
    sphere_codebook,
    write_artifacts,
)
from .builder import KVCacheBuilder  # noqa: F401
