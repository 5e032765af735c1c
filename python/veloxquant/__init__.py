"""veloxquant: transformer KV-cache compression to 2-4 bits per number, attention on the codes.

The compiled part lives in veloxquant._core; this package re-exports it and adds the seed
project's fluent KVCacheBuilder.
"""
from ._core import (  # noqa: F401
    KVCache,
    Quantizer,
    __version__,
    formats,
    gaussian_matrix,
    load_artifacts,
    load_cache,
    polar_angle_codebook,
    rotation_matrix,
    sphere_codebook,
)
from .builder import KVCacheBuilder  # noqa: F401
