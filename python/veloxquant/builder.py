"""The seed project's fluent cache builder, mapped onto veloxquant.KVCache.

Every option either changes the cache that build() returns or is rejected with ValueError:

    cache = (KVCacheBuilder().with_method("turboquant_mse").with_head_dim(128)
             .with_bit_width(inlier=2, outlier=3).with_n_outlier_channels(4)
             .with_seed(42).with_sliding_window(64).build())
    cache.append(k, v)          # (tokens, head_dim) or (head_dim,)
    out = cache.attend(q)       # (head_dim,): attends to every token; (n, head_dim): causal

The method sets the keys' format. Values are accumulated, not scored, so an inner-product
estimator gains nothing there: unless with_value_format is given, values use TurboQuant-MSE at the
inlier bit width for turboquant_prod (with the same outlier channels) and tq3 for qjl, and the
keys' format for turboquant_mse and polar. Defaults: no sliding window, no sinks (every token
compressed).
"""
import numbers

import numpy as np

from ._core import KVCache
from .observers import ObservedKVCache

_METHODS = ("turboquant_prod", "turboquant_mse", "polar", "qjl")


class KVCacheBuilder:
    def __init__(self):
        self._method = "turboquant_mse"
        self._head_dim = 128
        self._inlier_bits = None
        self._outlier_bits = None
        self._jl_dim = None
        self._n_outliers = 0
        self._polar_bits = None
        self._seed = 0
        self._window = 0
        self._sinks = 0
        self._layers = 1
        self._kv_heads = 1
        self._q_heads = None
        self._max_tokens = 0
        self._value_format = None
        self._exact_format = "auto"
        self._page_tokens = 256
        self._calibration_tokens = 128
        self._threads = 1
        self._output_dtype = None
        self._store = None
        self._observers = []

    def with_method(self, method):
        if method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
        self._method = method
        return self

    def with_head_dim(self, head_dim):
        self._head_dim = _positive("head_dim", head_dim)
        return self

    def with_bit_width(self, inlier=None, outlier=None):
        """Bits per coordinate of the inlier channels, and of the outlier channels (turboquant_mse/prod)."""
        if inlier is not None:
            self._inlier_bits = _positive("inlier bits", inlier)
        if outlier is not None:
            self._outlier_bits = _positive("outlier bits", outlier)
        return self

    def with_jl_dim(self, jl_dim):
        """Sketch rows m of qjl (for turboquant_prod the residual sketch is head_dim x head_dim)."""
        self._jl_dim = _positive("jl_dim", jl_dim)
        return self

    def with_n_outlier_channels(self, n):
        self._n_outliers = _integer("n_outlier_channels", n, 0)
        return self

    def with_polar_bits(self, level1, level2, level3, level4):
        self._polar_bits = tuple(_positive("polar bits", b) for b in (level1, level2, level3, level4))
        return self

    def with_seed(self, seed):
        self._seed = _integer("seed", seed, 0, 2**64 - 1)
        return self

    def with_sliding_window(self, window):
        """Newest tokens kept exact (not compressed); 0 compresses every token."""
        self._window = _integer("sliding window", window, 0)
        return self

    def with_sinks(self, sinks):
        """First tokens kept exact (attention sinks)."""
        self._sinks = _integer("sinks", sinks, 0)
        return self

    def with_layers(self, layers):
        self._layers = _positive("layers", layers)
        return self

    def with_heads(self, kv_heads, q_heads=None):
        self._kv_heads = _positive("kv_heads", kv_heads)
        self._q_heads = None if q_heads is None else _positive("q_heads", q_heads)
        return self

    def with_max_tokens(self, max_tokens):
        """Keep at most this many tokens (the oldest non-sink tokens are evicted); 0: unbounded."""
        self._max_tokens = _integer("max_tokens", max_tokens, 0)
        return self

    def with_value_format(self, value_format):
        """Format of the values (any veloxquant.formats() name); default: the keys' format."""
        self._value_format = value_format
        return self

    def with_exact_format(self, exact_format):
        self._exact_format = exact_format
        return self

    def with_threads(self, threads):
        self._threads = _positive("threads", threads)
        return self

    def with_capacity(self, max_tokens):
        """The seed's name for with_max_tokens."""
        return self.with_max_tokens(max_tokens)

    def with_n_calib_tokens(self, n):
        """Tokens that choose the outlier channels (calibration_tokens)."""
        self._calibration_tokens = _positive("n_calib_tokens", n)
        return self

    def with_precision(self, dtype):
        """float16 (numpy, torch or mlx dtype, or its name): exact sinks/window stored in f16 and attend
        returns float16; float32: f32 and float32; bfloat16: bf16 storage, float32 outputs."""
        name = str(dtype).replace("torch.", "").replace("mlx.core.", "")
        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
        formats = {"float16": ("f16", np.float16), "float32": ("f32", np.float32), "bfloat16": ("bf16", None)}
        if name not in formats:
            raise ValueError(f"precision must be float16, float32 or bfloat16, got {dtype!r}")
        self._exact_format, self._output_dtype = formats[name]
        return self

    def with_artifact_store(self, store):
        """Precomputed codebooks (veloxquant.artifacts): installed for head_dim when the cache is built."""
        if not callable(getattr(store, "install", None)):
            raise TypeError(f"an artifact store needs an install(head_dim) method, got {store!r}")
        self._store = store
        return self

    def with_observer(self, observer):
        """Reports every append and attend of the cache to observer.on_event (veloxquant.observers)."""
        if not callable(getattr(observer, "on_event", None)):
            raise TypeError(f"an observer needs an on_event(event) method, got {observer!r}")
        self._observers.append(observer)
        return self

    def key_format(self):
        """The veloxquant format name the options map to."""
        m, bits = self._method, self._inlier_bits
        if m in ("qjl", "polar") and (self._n_outliers or self._outlier_bits is not None):
            raise ValueError(f"outlier channels are supported by turboquant_mse and turboquant_prod, not {m}")
        if self._outlier_bits is not None and not self._n_outliers:
            raise ValueError("outlier bits given but n_outlier_channels is 0")
        if m != "polar" and self._polar_bits is not None:
            raise ValueError(f"with_polar_bits applies to polar, not {m}")
        if m == "turboquant_mse":
            bits = 3 if bits is None else bits
            if self._jl_dim is not None:
                raise ValueError("with_jl_dim applies to qjl and turboquant_prod, not turboquant_mse")
            return f"tq{bits}" + self._outlier_option(bits)
        if m == "turboquant_prod":
            if self._jl_dim is not None and self._jl_dim != self._head_dim:
                raise ValueError(f"turboquant_prod sketches the residual with head_dim rows; jl_dim must be "
                                 f"{self._head_dim}, got {self._jl_dim}")
            bits = 3 if bits is None else bits
            return f"tqp{bits}" + self._outlier_option(bits)
        if bits is not None:
            raise ValueError(f"{m} does not take a bit width" + (" (use with_polar_bits)" if m == "polar" else
                                                                  " (it stores one sign bit per sketch row)"))
        if m == "qjl":
            return "qjl" if self._jl_dim is None else f"qjl:m={self._jl_dim}"
        if self._jl_dim is not None:
            raise ValueError("with_jl_dim applies to qjl and turboquant_prod, not polar")
        return "polar" if self._polar_bits is None else "polar:bits=" + "/".join(map(str, self._polar_bits))

    def _outlier_option(self, bits):
        """':outliers=N/B' for N outlier channels at the outlier bits (default: the inlier bits + 1)."""
        if not self._n_outliers:
            return ""
        outlier = bits + 1 if self._outlier_bits is None else self._outlier_bits
        return f":outliers={self._n_outliers}/{outlier}"

    def value_format(self):
        """The values' format name (see the module docstring)."""
        if self._value_format is not None:
            return self._value_format
        if self._method == "qjl":
            return "tq3"
        if self._method == "turboquant_prod":
            bits = 3 if self._inlier_bits is None else self._inlier_bits
            return f"tq{bits}" + self._outlier_option(bits)
        return self.key_format()

    def build(self):
        """A veloxquant.KVCache; an ObservedKVCache (a subclass) with observers or a float16 precision."""
        config = dict(layers=self._layers, kv_heads=self._kv_heads, q_heads=self._q_heads or self._kv_heads,
                      head_dim=self._head_dim, key_format=self.key_format(), value_format=self.value_format(),
                      exact_format=self._exact_format, window=self._window, sinks=self._sinks,
                      max_tokens=self._max_tokens, calibration_tokens=self._calibration_tokens,
                      page_tokens=self._page_tokens, seed=self._seed, threads=self._threads)
        if self._store is not None:
            self._store.install(self._head_dim)
        if self._observers or self._output_dtype not in (None, np.float32):
            return ObservedKVCache(observers=self._observers, output_dtype=self._output_dtype, **config)
        return KVCache(**config)


def _integer(name, value, minimum, maximum=None):
    """value as an int, refusing bools, floats (1.5 must not become 1) and values out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
