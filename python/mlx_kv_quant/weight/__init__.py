"""The seed's weight quantization (veloxquant.weights): QuantizedLinear, quantize_model, compression_report."""
from veloxquant.weights import QuantizedLinear, compression_report, quantize_model  # noqa: F401

__all__ = ["QuantizedLinear", "compression_report", "quantize_model"]
