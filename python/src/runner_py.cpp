// veloxquant.llama_logits: the library's GGUF Llama runner from Python (the reference a model in
// another framework is checked against): logits of one batched forward pass over a token list.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/thread_pool.h"

namespace veloxquant::py_bind {

void bind_runner(py::module_& m) {
  m.def(
      "llama_logits",
      [](const std::string& model_path, const std::vector<std::int32_t>& tokens, const std::string& key_format,
         const std::string& value_format, std::size_t window, std::size_t sinks, std::uint64_t seed,
         std::size_t threads) {
        if (tokens.empty()) throw py::value_error("tokens must not be empty");
        if (threads == 0) throw py::value_error("threads must be >= 1");
        std::vector<float> logits;
        std::size_t vocab = 0;
        {
          py::gil_scoped_release release;
          const LlamaModel model = LlamaModel::load(model_path);
          const LlamaConfig& c = model.config();
          vocab = c.vocab;
          ThreadPool pool(threads);
          KvStoreOptions o;
          o.key_format = key_format;
          o.value_format = value_format.empty() ? key_format : value_format;
          o.window = window;
          o.sinks = sinks;
          o.seed = seed;
          const auto store = make_kv_store(o, c.kv_shape(), pool);
          LlamaSession session(model, *store, pool);
          logits.resize(tokens.size() * vocab);
          session.forward(tokens.data(), tokens.size(), logits.data(), true);
        }
        FloatArray out({static_cast<py::ssize_t>(tokens.size()), static_cast<py::ssize_t>(vocab)});
        std::copy(logits.begin(), logits.end(), out.mutable_data());
        return out;
      },
      py::arg("model"), py::arg("tokens"), py::arg("key_format") = "exact", py::arg("value_format") = "",
      py::arg("window") = 128, py::arg("sinks") = 4, py::arg("seed") = 0, py::arg("threads") = 1,
      "Logits [len(tokens), vocab] of the runner's forward pass over `tokens` (one batch, positions 0..n-1), "
      "with exact f32 attention ('exact') or a KVCache of the given formats, window, sinks and seed: what "
      "`veloxquant perplexity` computes for one window.");
}

}  // namespace veloxquant::py_bind
