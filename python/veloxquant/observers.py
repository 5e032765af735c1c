"""Observers of a KV cache: they receive an event for every append, attend, truncate and clear.

Attach them with ``KVCacheBuilder().with_observer(obs)`` (the seed project's API) or
``ObservedKVCache(..., observers=[obs])``. An observer is any object with ``on_event(event)``:

    latency = LatencyObserver()
    cache = KVCacheBuilder().with_head_dim(128).with_observer(latency).build()
    cache.append(k, v); cache.attend(q)
    latency.report()   # {"append": {"mean_ms": ..., "min_ms": ..., "max_ms": ..., "count": 1}, "attend": ...}

What each one measures:

- LatencyObserver: the wall time of each call (Python call included), per stage.
- MemoryObserver: the change of ``memory_bytes()`` (the payload bytes the cache has actually
  allocated, not process RSS) per call, per stage, and the largest size seen.
- DistortionObserver: for sampled attend calls, the attention output against exact attention in
  float64 over every token appended (it keeps its own float32 copy of the keys and values, so it
  costs that memory). Eviction with max_tokens counts as distortion.
"""
import time
from dataclasses import dataclass, field
import numpy as np

from ._core import KVCache


@dataclass
class CacheEvent:
    """One call on an observed cache.

    stage: "append", "attend", "truncate" or "clear"; input_shape: shape of k (append) or q
    (attend); elapsed_ms: wall time of the call; memory_delta_bytes: change of memory_bytes();
    metadata: layer, tokens held, memory_bytes, and the arrays (k, v for append; q, output for
    attend) as float32 numpy arrays.
    """

    stage: str
    input_shape: tuple
    elapsed_ms: float = 0.0
    memory_delta_bytes: int = 0
    metadata: dict = field(default_factory=dict)


QuantizationEvent = CacheEvent  # the seed project's name


class QuantizationObserver:
    """Base class (optional: any object with on_event works)."""

    def on_event(self, event: CacheEvent) -> None:
        raise NotImplementedError


class ObservedKVCache(KVCache):
    """A veloxquant.KVCache that reports every call to its observers, and optionally returns attend
    outputs in another dtype (``output_dtype``, e.g. np.float16: the seed's with_precision)."""

    def __init__(self, *, observers=(), output_dtype=None, **config):
        super().__init__(**config)
        self._observers = list(observers)
        self._output_dtype = None if output_dtype is None else np.dtype(output_dtype)

    @property
    def observers(self):
        return list(self._observers)

    def add_observer(self, observer):
        if not callable(getattr(observer, "on_event", None)):
            raise TypeError(f"an observer needs an on_event(event) method, got {observer!r}")
        self._observers.append(observer)

    def _notify(self, stage, shape, start, memory_before, **metadata):
        if not self._observers:
            return
        elapsed_ms = (time.perf_counter() - start) * 1e3
        memory = self.memory_bytes()
        c = self.config
        metadata.update(tokens=len(self), memory_bytes=memory, kv_heads=c["kv_heads"], q_heads=c["q_heads"],
                        head_dim=c["head_dim"], scale=c["scale"] or 1.0 / np.sqrt(c["head_dim"]))
        event = CacheEvent(stage, tuple(shape), elapsed_ms, memory - memory_before, metadata)
        for observer in self._observers:
            observer.on_event(event)

    def append(self, k, v, layer=0):
        k = np.asarray(k, dtype=np.float32)
        v = np.asarray(v, dtype=np.float32)
        memory, start = self.memory_bytes(), time.perf_counter()
        super().append(k, v, layer)
        self._notify("append", k.shape, start, memory, layer=layer, k=k, v=v)

    def attend(self, q, layer=0, out=None):
        q = np.asarray(q, dtype=np.float32)
        memory, start = self.memory_bytes(), time.perf_counter()
        result = super().attend(q, layer, out)
        self._notify("attend", q.shape, start, memory, layer=layer, q=q, output=result)
        if self._output_dtype is not None and out is None:
            return result.astype(self._output_dtype, copy=False)
        return result

    def truncate(self, n_tokens):
        memory, start = self.memory_bytes(), time.perf_counter()
        super().truncate(n_tokens)
        self._notify("truncate", (), start, memory, n_tokens=n_tokens)

    def clear(self):
        memory, start = self.memory_bytes(), time.perf_counter()
        super().clear()
        self._notify("clear", (), start, memory)


class LatencyObserver(QuantizationObserver):
    """Wall time of every call, per stage (milliseconds)."""

    def __init__(self):
        self._samples = {}

    def on_event(self, event):
        self._samples.setdefault(event.stage, []).append(event.elapsed_ms)

    def report(self):
        """{stage: {mean_ms, min_ms, max_ms, count}}."""
        return {stage: {"mean_ms": float(np.mean(s)), "min_ms": min(s), "max_ms": max(s), "count": len(s)}
                for stage, s in self._samples.items()}

    def reset(self):
        self._samples.clear()

    def __repr__(self):
        return f"LatencyObserver(stages={list(self._samples)})"


class MemoryObserver(QuantizationObserver):
    """Change of the cache's memory_bytes() per call (allocated payload bytes), per stage."""

    def __init__(self):
        self._deltas = {}
        self.peak_bytes = 0
        self.current_bytes = 0

    def on_event(self, event):
        self._deltas.setdefault(event.stage, []).append(event.memory_delta_bytes)
        self.current_bytes = event.metadata.get("memory_bytes", self.current_bytes)
        self.peak_bytes = max(self.peak_bytes, self.current_bytes)

    def peak_delta_bytes(self):
        """The largest change one call made."""
        return max((d for deltas in self._deltas.values() for d in deltas), default=0)

    def report(self):
        """{stage: total change of memory_bytes over that stage's calls}."""
        return {stage: int(sum(d)) for stage, d in self._deltas.items()}

    def __repr__(self):
        return f"MemoryObserver(current_bytes={self.current_bytes}, peak_bytes={self.peak_bytes})"


@dataclass
class DistortionReport:
    """Attention output of the cache against exact attention, over the sampled attend calls.

    mean_rel_error / max_rel_error: ‖o − o_exact‖ / ‖o_exact‖ per sampled query head;
    empirical_mse: mean squared error per output coordinate; n_samples: query heads compared.
    """

    mean_rel_error: float
    max_rel_error: float
    empirical_mse: float
    n_samples: int
    bits: int = 0


class DistortionObserver(QuantizationObserver):
    """Compares sampled attend outputs with exact attention over the tokens appended so far.

    sample_every: compare every n-th attend call (1: all). b: the cache's bit width (the seed's
    signature; reported back). d: the head dimension; events of another one raise ValueError.
    """

    def __init__(self, b=2, d=128, sample_every=1):
        if sample_every < 1:
            raise ValueError(f"sample_every must be >= 1, got {sample_every}")
        self.bits, self.dim, self._every = b, d, sample_every
        self._keys, self._values = {}, {}
        self._calls = 0
        self._errors, self._sq, self._coords = [], 0.0, 0

    def on_event(self, event):
        m = event.metadata
        if event.stage in ("append", "attend") and m["head_dim"] != self.dim:
            raise ValueError(f"DistortionObserver(d={self.dim}) got an event of a cache with head_dim {m['head_dim']}")
        layer = m.get("layer", 0)
        if event.stage == "append":
            shape = (-1, m["kv_heads"], m["head_dim"])
            self._keys.setdefault(layer, []).append(np.reshape(m["k"], shape))
            self._values.setdefault(layer, []).append(np.reshape(m["v"], shape))
        elif event.stage == "truncate":
            for store in (self._keys, self._values):
                for key, parts in store.items():
                    store[key] = [np.concatenate(parts)[:m["n_tokens"]]]
        elif event.stage == "clear":
            self._keys.clear()
            self._values.clear()
        elif event.stage == "attend":
            self._calls += 1
            if (self._calls - 1) % self._every == 0:
                self._compare(m, layer)

    def _compare(self, m, layer):
        shape = (-1, m["q_heads"], m["head_dim"])
        q = np.reshape(m["q"], shape).astype(np.float64)
        out = np.reshape(m["output"], shape).astype(np.float64)
        k = np.concatenate(self._keys[layer]).astype(np.float64)
        v = np.concatenate(self._values[layer]).astype(np.float64)
        group = m["q_heads"] // m["kv_heads"]
        n, total = q.shape[0], k.shape[0]
        for i in range(n):  # query i sees tokens 0 .. total − n + i (causal)
            visible = total - n + i + 1
            for h in range(q.shape[1]):
                s = k[:visible, h // group] @ q[i, h] * m["scale"]
                p = np.exp(s - s.max())
                exact = (p / p.sum()) @ v[:visible, h // group]
                err = out[i, h] - exact
                self._errors.append(np.linalg.norm(err) / max(np.linalg.norm(exact), 1e-30))
                self._sq += float(err @ err)
                self._coords += err.size

    def report(self):
        if not self._errors:
            return DistortionReport(0.0, 0.0, 0.0, 0, self.bits)
        return DistortionReport(float(np.mean(self._errors)), float(np.max(self._errors)), self._sq / self._coords,
                                len(self._errors), self.bits)

    def reset(self):
        self._errors, self._sq, self._coords, self._calls = [], 0.0, 0, 0

    def __repr__(self):
        return f"DistortionObserver(b={self.bits}, d={self.dim}, n={len(self._errors)})"
