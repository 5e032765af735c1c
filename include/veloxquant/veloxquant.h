/* veloxquant C API (C99): quantizers and the compressed KV cache behind opaque handles.
 *
 * Every function returns a vq_status; on failure vq_last_error() gives a one-line message for
 * the calling thread (valid until that thread's next call into the library). No C++ exception
 * crosses this boundary. Handles are not synchronised: use one handle from one thread at a time
 * (several threads may read one cache with vq_cache_attend concurrently).
 *
 * Array layouts (row-major float32):
 *   quantizer: x[n][dim] <-> codes[n][code_size]
 *   cache:     k, v [tokens][kv_heads][head_dim];  q, out [queries][q_heads][head_dim]
 */
#ifndef VELOXQUANT_VELOXQUANT_H
#define VELOXQUANT_VELOXQUANT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vq_status {
  VQ_OK = 0,
  VQ_INVALID_ARGUMENT = 1, /* a bad argument, named in vq_last_error() */
  VQ_IO_ERROR = 2,         /* a file could not be opened, read or written */
  VQ_CORRUPT_FILE = 3,     /* a file is truncated, corrupted, of another version or configuration */
  VQ_OUT_OF_MEMORY = 4,
  VQ_INTERNAL_ERROR = 5
} vq_status;

/* Message of the calling thread's last failed call ("" if none). */
const char* vq_last_error(void);
/* Constant name of a status, e.g. "VQ_INVALID_ARGUMENT". */
const char* vq_status_name(vq_status status);
/* Library version, e.g. "0.1.0". */
const char* vq_version(void);

/* ---- Quantizers: one storage format for vectors of one dimension ---- */
typedef struct vq_quantizer vq_quantizer;

/* format: any name of the format table, e.g. "tq3", "tqp3", "qjl", "polar", "q8", "f16". */
vq_status vq_quantizer_create(const char* format, size_t dim, uint64_t seed, vq_quantizer** out);
void vq_quantizer_destroy(vq_quantizer* quantizer); /* NULL is ignored */
size_t vq_quantizer_code_size(const vq_quantizer* quantizer);
vq_status vq_quantizer_encode(const vq_quantizer* quantizer, size_t n, const float* x, uint8_t* codes);
vq_status vq_quantizer_decode(const vq_quantizer* quantizer, size_t n, const uint8_t* codes, float* x);
/* out[i*n + t] = estimate of <q_i, x_t> computed on the codes, for n_queries queries q[n_queries][dim]. */
vq_status vq_quantizer_inner_products(const vq_quantizer* quantizer, size_t n_queries, const float* q, size_t n,
                                      const uint8_t* codes, float* out);

/* ---- KV cache ---- */
typedef struct vq_cache vq_cache;

typedef struct vq_cache_config {
  size_t layers, kv_heads, q_heads, head_dim;
  const char* key_format; /* e.g. "tq3"; copied at creation */
  const char* value_format;
  const char*
      exact_format;  /* sinks and recent window: "f32", "f16", "bf16" or "auto" (f32 if a format is f32, else f16) */
  size_t window;     /* newest tokens kept exact */
  size_t sinks;      /* first tokens kept exact */
  size_t max_tokens; /* 0: unbounded; else the oldest non-sink tokens are evicted */
  size_t calibration_tokens; /* tokens that choose outlier channels */
  size_t page_tokens;
  uint64_t seed;
  float scale; /* attention scale; 0 means 1/sqrt(head_dim) */
  size_t threads;
  /* Appended after threads (fill the struct with vq_cache_config_init first). */
  float softcap;                          /* > 0: scores s become softcap*tanh(s/softcap) (gemma2); 0: off */
  const size_t* sliding_windows;          /* NULL, or `layers` entries: layer l keeps and attends its last
                                             sliding_windows[l] tokens (0: every token); copied at creation */
  const char* const* layer_key_formats;   /* NULL, or `layers` entries: layer l's key format (NULL or "":
                                             key_format), e.g. "q8" for the first and last layers */
  const char* const* layer_value_formats; /* likewise for values */
} vq_cache_config;

typedef struct vq_cache_stats {
  size_t tokens;       /* tokens of layer 0 */
  size_t memory_bytes; /* payload bytes allocated */
  size_t code_bytes, key_code_bytes, value_code_bytes, window_bytes, sink_bytes, outlier_bytes;
  double key_bits_per_coord, value_bits_per_coord;
  double encode_seconds, attend_seconds;
} vq_cache_stats;

/* Fills *config with the library's defaults (1 layer, 1 head, head_dim 128, tq3, ...). */
void vq_cache_config_init(vq_cache_config* config);

vq_status vq_cache_create(const vq_cache_config* config, vq_cache** out);
void vq_cache_destroy(vq_cache* cache); /* NULL is ignored */
/* The configuration the cache runs with; format strings stay valid while the cache lives. */
vq_status vq_cache_get_config(const vq_cache* cache, vq_cache_config* out);

vq_status vq_cache_append(vq_cache* cache, size_t layer, size_t n_tokens, const float* k, const float* v);
/* Causal attention of the newest n_queries tokens of a layer (n_queries <= tokens held). */
vq_status vq_cache_attend(const vq_cache* cache, size_t layer, size_t n_queries, const float* q, float* out);
vq_status vq_cache_tokens(const vq_cache* cache, size_t layer, size_t* out);
/* Tokens appended to the layer since the last clear: held plus evicted (the next position). */
vq_status vq_cache_appended(const vq_cache* cache, size_t layer, size_t* out);
/* *out = 1 when vq_cache_truncate(cache, n_tokens) would succeed (not below what a sliding-window
   layer evicted), else 0. */
vq_status vq_cache_can_truncate(const vq_cache* cache, size_t n_tokens, int* out);
vq_status vq_cache_truncate(vq_cache* cache, size_t n_tokens);
vq_status vq_cache_clear(vq_cache* cache);
vq_status vq_cache_stats_get(const vq_cache* cache, vq_cache_stats* out);

/* One file holds the whole cache (docs/file_formats.md); saving is atomic (temp file + rename). */
vq_status vq_cache_save(const vq_cache* cache, const char* path);
/* Loads a saved cache; VQ_CORRUPT_FILE for truncated, corrupted or wrong-version files. */
vq_status vq_cache_load(const char* path, vq_cache** out);

#ifdef __cplusplus
}
#endif

#endif /* VELOXQUANT_VELOXQUANT_H */
