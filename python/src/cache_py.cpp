// veloxquant.KVCache: the multi-layer compressed KV cache with numpy (tokens, heads, dim) arrays.
//
// The C++ KVCache lets several threads attend at once but leaves appends, truncates and clears to
// one thread at a time. Python code cannot be trusted to keep that rule (four threads appending to
// one cache used to crash the interpreter), so each Python cache carries a reader–writer lock:
// append, truncate and clear take it exclusively, everything else shared. The GIL is released
// before waiting for the lock, so a waiting thread never blocks the ones holding it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "cache/persist.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant::py_bind {

namespace {

struct PyCache {
  explicit PyCache(KVCache c) : cache(std::move(c)) {}
  KVCache cache;
  mutable std::shared_mutex mutex;

  // f() under the lock, with the GIL released (f must not touch Python objects).
  template <class F>
  auto exclusive(F&& f) {
    py::gil_scoped_release release;
    std::unique_lock lock(mutex);
    return f(cache);
  }
  template <class F>
  auto shared(F&& f) const {
    py::gil_scoped_release release;
    std::shared_lock lock(mutex);
    return f(cache);
  }
};

using CachePtr = std::unique_ptr<PyCache>;

// Accepts (tokens, heads, dim); with one head also (tokens, dim) and (dim,).
std::size_t token_rows(const py::array& a, std::size_t heads, std::size_t dim, const char* name) {
  if (heads == 1 && a.ndim() <= 2) return rows_of(a, dim, name);
  return rows_of_3d(a, heads, dim, name);
}

void check_layer(const KVCache& c, std::size_t layer) {
  if (layer >= c.config().layers)
    throw py::index_error("layer " + std::to_string(layer) +
                          " out of range (layers = " + std::to_string(c.config().layers) + ")");
}

void append(PyCache& pc, const py::handle& k_obj, const py::handle& v_obj, std::size_t layer) {
  const KVCache& cache = pc.cache;  // config() is immutable: no lock needed to read it
  check_layer(cache, layer);
  const CacheConfig& c = cache.config();
  const FloatArray k = as_float_array(k_obj, "k"), v = as_float_array(v_obj, "v");
  const std::size_t n = token_rows(k, c.kv_heads, c.head_dim, "k");
  if (token_rows(v, c.kv_heads, c.head_dim, "v") != n || k.ndim() != v.ndim())
    throw py::value_error("k and v must have the same shape, got " + shape_str(k) + " and " + shape_str(v));
  const float* kp = k.data();
  const float* vp = v.data();
  pc.exclusive([&](KVCache& kv) {
    kv.append(layer, n, kp, vp);
    return 0;
  });
}

// `out`: None (a new array), or a C-contiguous, writable float32 array of q's shape that receives
// the output (no allocation: e.g. the numpy view of a torch tensor).
FloatArray output_for(const FloatArray& q, const py::object& out_obj) {
  std::vector<py::ssize_t> shape(q.shape(), q.shape() + q.ndim());
  if (out_obj.is_none()) return FloatArray(shape);
  const py::array a = py::array::ensure(out_obj);
  const bool ok = a && a.dtype().is(py::dtype::of<float>()) && (a.flags() & py::array::c_style) && a.writeable() &&
                  std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()) == shape;
  if (!ok)
    throw py::value_error("out must be a writable C-contiguous float32 array of shape " + shape_str(q) +
                          (a ? ", got " + std::string(py::str(a.dtype())) + " " + shape_str(a) : std::string()));
  return py::reinterpret_borrow<FloatArray>(a);
}

py::array attend(const PyCache& pc, const py::handle& q_obj, std::size_t layer, const py::object& out_obj) {
  check_layer(pc.cache, layer);
  const CacheConfig& c = pc.cache.config();
  const FloatArray q = as_float_array(q_obj, "q");
  const std::size_t n = token_rows(q, c.q_heads, c.head_dim, "q");
  FloatArray out = output_for(q, out_obj);
  const float* qp = q.data();
  float* op = out.mutable_data();
  pc.shared([&](const KVCache& kv) {
    kv.attend(layer, n, qp, op);
    return 0;
  });
  return out;
}

// n_tokens of save(): None, or an integer ≥ 0 (bool and floats are refused, not truncated).
std::size_t prefix_tokens(const py::object& n_tokens) {
  if (!py::isinstance<py::int_>(n_tokens) || py::isinstance<py::bool_>(n_tokens))
    throw py::type_error("n_tokens must be None or an integer, got " + std::string(py::repr(n_tokens)));
  const py::int_ zero(0);
  if (n_tokens < zero) throw py::value_error("n_tokens must be >= 0, got " + std::string(py::repr(n_tokens)));
  return n_tokens.cast<std::size_t>();  // OverflowError beyond 2^64 − 1
}

py::dict config_dict(const CacheConfig& c) {
  py::dict d;
  d["layers"] = c.layers;
  d["kv_heads"] = c.kv_heads;
  d["q_heads"] = c.q_heads;
  d["head_dim"] = c.head_dim;
  d["key_format"] = c.key_format;
  d["value_format"] = c.value_format;
  d["exact_format"] = c.exact_format;
  d["window"] = c.window;
  d["sinks"] = c.sinks;
  d["max_tokens"] = c.max_tokens;
  d["calibration_tokens"] = c.calibration_tokens;
  d["page_tokens"] = c.page_tokens;
  d["seed"] = c.seed;
  d["scale"] = c.scale;
  d["softcap"] = c.softcap;
  d["sliding_windows"] = c.sliding_windows;
  d["layer_key_formats"] = c.layer_key_formats;
  d["layer_value_formats"] = c.layer_value_formats;
  d["threads"] = c.threads;
  return d;
}

py::dict stats_dict(const CacheStats& s, std::size_t memory) {
  py::dict d;
  d["tokens"] = s.tokens;
  d["memory_bytes"] = memory;
  d["code_bytes"] = s.code_bytes;
  d["key_code_bytes"] = s.key_code_bytes;
  d["value_code_bytes"] = s.value_code_bytes;
  d["window_bytes"] = s.window_bytes;
  d["sink_bytes"] = s.sink_bytes;
  d["outlier_bytes"] = s.outlier_bytes;
  d["key_bits_per_coord"] = s.key_bits_per_coord;
  d["value_bits_per_coord"] = s.value_bits_per_coord;
  d["encode_seconds"] = s.encode_seconds;
  d["attend_seconds"] = s.attend_seconds;
  return d;
}

}  // namespace

void bind_cache(py::module_& m) {
  const CacheConfig kDefaults;  // Python's defaults are the C++ ones
  py::class_<PyCache>(
      m, "KVCache",
      "Compressed multi-layer KV cache; k, v: (tokens, kv_heads, head_dim), q: (queries, q_heads, head_dim). "
      "Safe to share between Python threads: appends, truncates and clears are serialized, attends run in parallel.")
      .def(py::init([](std::size_t layers, std::size_t kv_heads, std::size_t q_heads, std::size_t head_dim,
                       const std::string& key_format, const std::string& value_format, const std::string& exact_format,
                       std::size_t window, std::size_t sinks, std::size_t max_tokens, std::size_t calibration_tokens,
                       std::size_t page_tokens, std::uint64_t seed, float scale, std::size_t threads, float softcap,
                       const std::vector<std::size_t>& sliding_windows,
                       const std::vector<std::string>& layer_key_formats,
                       const std::vector<std::string>& layer_value_formats) {
             CacheConfig c;
             c.layers = layers;
             c.kv_heads = kv_heads;
             c.q_heads = q_heads == 0 ? kv_heads : q_heads;
             c.head_dim = head_dim;
             c.key_format = key_format;
             c.value_format = value_format.empty() ? key_format : value_format;
             c.exact_format = exact_format;
             c.window = window;
             c.sinks = sinks;
             c.max_tokens = max_tokens;
             c.calibration_tokens = calibration_tokens;
             c.page_tokens = page_tokens;
             c.seed = seed;
             c.scale = scale;
             c.threads = threads;
             c.softcap = softcap;
             c.sliding_windows = sliding_windows;
             c.layer_key_formats = layer_key_formats;
             c.layer_value_formats = layer_value_formats;
             py::gil_scoped_release release;  // probe quantizers of large dims take a while
             return std::make_unique<PyCache>(KVCache(c));
           }),
           py::arg("layers") = 1, py::arg("kv_heads") = 1, py::arg("q_heads") = 0,
           py::arg("head_dim") = kDefaults.head_dim, py::arg("key_format") = kDefaults.key_format,
           py::arg("value_format") = "", py::arg("exact_format") = kDefaults.exact_format,
           py::arg("window") = kDefaults.window, py::arg("sinks") = kDefaults.sinks,
           py::arg("max_tokens") = kDefaults.max_tokens, py::arg("calibration_tokens") = kDefaults.calibration_tokens,
           py::arg("page_tokens") = kDefaults.page_tokens, py::arg("seed") = kDefaults.seed,
           py::arg("scale") = kDefaults.scale, py::arg("threads") = kDefaults.threads,
           py::arg("softcap") = kDefaults.softcap, py::arg("sliding_windows") = std::vector<std::size_t>{},
           py::arg("layer_key_formats") = std::vector<std::string>{},
           py::arg("layer_value_formats") = std::vector<std::string>{},
           "q_heads 0 means kv_heads; value_format '' means key_format; scale 0 means 1/sqrt(head_dim); exact_format "
           "'auto' keeps sinks and window in f32 when a format is f32, else in f16. softcap > 0: scores become "
           "softcap*tanh(s/softcap) (gemma2). sliding_windows: one entry per layer (0: every token), a layer keeps "
           "and attends its last window of tokens. layer_key_formats / layer_value_formats: one entry per layer, "
           "'' for key_format / value_format, e.g. ['q8', '', '', 'q8'].")
      .def("append", &append, py::arg("k"), py::arg("v"), py::arg("layer") = 0,
           "Appends tokens to a layer: (tokens, kv_heads, head_dim); with one KV head also (tokens, head_dim) or "
           "(head_dim,).")
      .def("attend", &attend, py::arg("q"), py::arg("layer") = 0, py::arg("out") = py::none(),
           "Causal attention of the newest len(q) positions of the layer; the output has q's shape (written into "
           "`out` when given: float32, C-contiguous, q's shape).")
      .def(
          "size",
          [](const PyCache& pc, std::size_t layer) {
            check_layer(pc.cache, layer);
            return pc.shared([&](const KVCache& c) { return c.size(layer); });
          },
          py::arg("layer") = 0)
      .def(
          "appended",
          [](const PyCache& pc, std::size_t layer) {
            check_layer(pc.cache, layer);
            return pc.shared([&](const KVCache& c) { return c.appended(layer); });
          },
          py::arg("layer") = 0, "Tokens appended to the layer since clear(): held plus evicted (the next position).")
      .def(
          "can_truncate",
          [](const PyCache& pc, std::size_t n) {
            return pc.shared([&](const KVCache& c) { return c.can_truncate(n); });
          },
          py::arg("n_tokens"), "Whether truncate(n_tokens) succeeds (not below what a sliding-window layer evicted).")
      .def("__len__", [](const PyCache& pc) { return pc.shared([](const KVCache& c) { return c.size(0); }); })
      .def("memory_bytes",
           [](const PyCache& pc) { return pc.shared([](const KVCache& c) { return c.memory_bytes(); }); })
      .def("stats",
           [](const PyCache& pc) {
             const auto [s, memory] =
                 pc.shared([](const KVCache& c) { return std::make_pair(c.stats(), c.memory_bytes()); });
             return stats_dict(s, memory);
           })
      .def_property_readonly("config", [](const PyCache& pc) { return config_dict(pc.cache.config()); })
      .def(
          "truncate",
          [](PyCache& pc, std::size_t n) {
            pc.exclusive([&](KVCache& c) {
              c.truncate(n);
              return 0;
            });
          },
          py::arg("n_tokens"))
      .def("clear",
           [](PyCache& pc) {
             pc.exclusive([](KVCache& c) {
               c.clear();
               return 0;
             });
           })
      .def("copy",
           [](const PyCache& pc) { return pc.shared([](const KVCache& c) { return std::make_unique<PyCache>(c); }); })
      .def(
          "save",
          [](const PyCache& pc, const std::string& path, const py::object& n_tokens) {
            const bool prefix = !n_tokens.is_none();
            const std::size_t n = prefix ? prefix_tokens(n_tokens) : 0;
            pc.shared([&](const KVCache& c) {
              if (prefix)
                save_cache_prefix(c, path, n);
              else
                save_cache(c, path);
              return 0;
            });
          },
          py::arg("path"), py::arg("n_tokens") = py::none(),
          "Saves the cache (or its first n_tokens per layer) to one file, atomically.")
      .def("__repr__", [](const PyCache& pc) {
        const CacheConfig& c = pc.cache.config();
        const std::size_t tokens = pc.shared([](const KVCache& kv) { return kv.size(0); });
        return "KVCache(layers=" + std::to_string(c.layers) + ", kv_heads=" + std::to_string(c.kv_heads) +
               ", head_dim=" + std::to_string(c.head_dim) + ", key_format='" + c.key_format + "', value_format='" +
               c.value_format + "', tokens=" + std::to_string(tokens) + ")";
      });
  m.def(
      "load_cache",
      [](const std::string& path) {
        py::gil_scoped_release release;
        return std::make_unique<PyCache>(load_cache(path));
      },
      py::arg("path"), "Loads a cache saved with KVCache.save; ValueError for a bad, truncated or corrupted file.");
}

}  // namespace veloxquant::py_bind
