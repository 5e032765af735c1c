"""mlx_kv_quant: the API of the seed project (VeloxQuant-MLX's `mlx_kv_quant`) over veloxquant.

Code written for the seed runs unchanged with numpy arrays in place of mlx arrays (`import numpy
as mx` where it had `import mlx.core as mx`). Nothing is implemented twice: every name here is
veloxquant's (docs/python.md, "The seed project's API"), with the seed's builder defaults
(turboquant_prod, 2 bits, seed 42).
"""
import veloxquant
from veloxquant.artifacts import InMemoryArtifactStore, NpyArtifactStore  # noqa: F401
from veloxquant.observers import (  # noqa: F401
    DistortionObserver,
    LatencyObserver,
    MemoryObserver,
    QuantizationEvent,
)
from veloxquant.weights import QuantizedLinear, compression_report, quantize_model  # noqa: F401

__version__ = veloxquant.__version__


class KVCacheBuilder(veloxquant.KVCacheBuilder):
    """veloxquant.KVCacheBuilder with the seed's defaults: turboquant_prod, 2 inlier bits, seed 42."""

    def __init__(self):
        super().__init__()
        self.with_method("turboquant_prod").with_bit_width(inlier=2).with_seed(42)

__all__ = ["KVCacheBuilder", "NpyArtifactStore", "InMemoryArtifactStore", "LatencyObserver", "MemoryObserver", "DistortionObserver", "QuantizationEvent", "QuantizedLinear", "quantize_model", "compression_report"]
