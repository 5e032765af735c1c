"""The seed's cache observers (veloxquant.observers)."""
from veloxquant.observers import (  # noqa: F401
    CacheEvent,
    DistortionObserver,
    DistortionReport,
    LatencyObserver,
    MemoryObserver,
    ObservedKVCache,
    QuantizationEvent,
    QuantizationObserver,
)

__all__ = ["CacheEvent", "DistortionObserver", "DistortionReport", "LatencyObserver", "MemoryObserver", "ObservedKVCache", "QuantizationEvent", "QuantizationObserver"]
