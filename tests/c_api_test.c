/* The C API exercised from C99: quantizers, the cache, save/load, errors and their messages. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "veloxquant/veloxquant.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_OK(call)                                                                                          \
  do {                                                                                                          \
    vq_status s_ = (call);                                                                                      \
    if (s_ != VQ_OK) {                                                                                          \
      fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call, vq_status_name(s_), vq_last_error()); \
      ++failures;                                                                                               \
    }                                                                                                           \
  } while (0)

/* Deterministic standard normals (xorshift + Box-Muller). */
static unsigned long long rng_state = 88172645463325252ull;
static double uniform01(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static void fill_normal(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

static void test_quantizer(void) {
  const size_t dim = 64, n = 200;
  vq_quantizer* q = NULL;
  CHECK_OK(vq_quantizer_create("tq3", dim, 7, &q));
  CHECK(q != NULL);
  const size_t cs = vq_quantizer_code_size(q);
  CHECK(cs == 2 + 3 * dim / 8); /* fp16 scale + three bit planes */
  float* x = malloc(n * dim * sizeof(float));
  float* y = malloc(n * dim * sizeof(float));
  unsigned char* codes = malloc(n * cs);
  fill_normal(x, n * dim);
  for (size_t i = 0; i < n; ++i) { /* unit vectors: the MSE is then theory.md's D_mse */
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += (double)x[i * dim + j] * x[i * dim + j];
    for (size_t j = 0; j < dim; ++j) x[i * dim + j] = (float)(x[i * dim + j] / sqrt(s));
  }
  CHECK_OK(vq_quantizer_encode(q, n, x, codes));
  CHECK_OK(vq_quantizer_decode(q, n, codes, y));
  double mse = 0;
  for (size_t i = 0; i < n * dim; ++i) mse += (double)(x[i] - y[i]) * (x[i] - y[i]);
  mse /= (double)n;
  CHECK(mse > 0.02 && mse < 0.04); /* tq3 at d = 64: 0.0334 without norm correction, a bit less with it */
  float scores[3 * 200];
  CHECK_OK(vq_quantizer_inner_products(q, 3, x, n, codes, scores));
  for (size_t i = 0; i < 3; ++i) {
    for (size_t t = 0; t < n; ++t) {
      double dot = 0, yy = 0;
      for (size_t j = 0; j < dim; ++j) {
        dot += (double)x[i * dim + j] * y[t * dim + j];
        yy += (double)y[t * dim + j] * y[t * dim + j];
      }
      /* tq3 keys are scored in int8: within 1 % of |q|*|x_hat| (|q| = 1) of the decoded inner product. */
      CHECK(fabs(dot - scores[i * n + t]) <= 0.01 * sqrt(yy));
    }
  }
  x[5] = NAN;
  CHECK(vq_quantizer_encode(q, n, x, codes) == VQ_INVALID_ARGUMENT);
  CHECK(strlen(vq_last_error()) > 0);
  CHECK(vq_quantizer_encode(q, 1, NULL, codes) == VQ_INVALID_ARGUMENT);
  vq_quantizer_destroy(q);

  vq_quantizer* bad = (vq_quantizer*)0x1;
  CHECK(vq_quantizer_create("tq99", dim, 0, &bad) == VQ_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  CHECK(strstr(vq_last_error(), "tq99") != NULL);
  CHECK(vq_quantizer_create(NULL, dim, 0, &bad) == VQ_INVALID_ARGUMENT);
  vq_quantizer_destroy(NULL);
  free(x);
  free(y);
  free(codes);
}

/* Exact causal attention in double precision for one query row (GQA: q head h reads kv head h/group). */
static void reference_attention(const float* k, const float* v, size_t tokens, size_t kv_heads, size_t q_heads,
                                size_t dim, const float* q, size_t visible, float* out) {
  const size_t group = q_heads / kv_heads;
  double* s = malloc(tokens * sizeof(double));
  for (size_t h = 0; h < q_heads; ++h) {
    const size_t kh = h / group;
    double m = -1e300, sum = 0;
    for (size_t t = 0; t < visible; ++t) {
      double dot = 0;
      for (size_t j = 0; j < dim; ++j) dot += (double)q[h * dim + j] * k[(t * kv_heads + kh) * dim + j];
      s[t] = dot / sqrt((double)dim);
      if (s[t] > m) m = s[t];
    }
    for (size_t t = 0; t < visible; ++t) sum += (s[t] = exp(s[t] - m));
    for (size_t j = 0; j < dim; ++j) {
      double acc = 0;
      for (size_t t = 0; t < visible; ++t) acc += s[t] * v[(t * kv_heads + kh) * dim + j];
      out[h * dim + j] = (float)(acc / sum);
    }
  }
  free(s);
}

static void* fail_in_thread(void* arg) {
  (void)arg;
  vq_quantizer* q = NULL;
  vq_quantizer_create("threadbad", 8, 0, &q);
  return strstr(vq_last_error(), "threadbad") ? (void*)1 : NULL;
}

static void test_cache(void) {
  vq_cache_config c;
  vq_cache_config_init(&c);
  CHECK(c.head_dim == 128 && c.layers == 1 && strcmp(c.key_format, "tq3") == 0);
  c.layers = 2;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.window = 8;
  c.sinks = 2;
  c.page_tokens = 16;
  c.seed = 42;
  const size_t tokens = 40, width = c.kv_heads * c.head_dim, qwidth = c.q_heads * c.head_dim;
  vq_cache* cache = NULL;
  CHECK_OK(vq_cache_create(&c, &cache));
  float* k = malloc(tokens * width * sizeof(float));
  float* v = malloc(tokens * width * sizeof(float));
  float q[2 * 4 * 64], out[2 * 4 * 64], out2[2 * 4 * 64], ref[4 * 64];
  fill_normal(k, tokens * width);
  fill_normal(v, tokens * width);
  fill_normal(q, 2 * qwidth);
  for (size_t layer = 0; layer < 2; ++layer) {
    CHECK_OK(vq_cache_append(cache, layer, 25, k, v));
    CHECK_OK(vq_cache_append(cache, layer, tokens - 25, k + 25 * width, v + 25 * width));
  }
  size_t held = 0;
  CHECK_OK(vq_cache_tokens(cache, 1, &held));
  CHECK(held == tokens);
  CHECK_OK(vq_cache_attend(cache, 1, 2, q, out));
  /* Compressed keys/values: close to exact attention, not equal. */
  double err = 0, norm = 0;
  reference_attention(k, v, tokens, 2, 4, 64, q + qwidth, tokens, ref);
  for (size_t i = 0; i < qwidth; ++i) {
    err += (double)(out[qwidth + i] - ref[i]) * (out[qwidth + i] - ref[i]);
    norm += (double)ref[i] * ref[i];
  }
  CHECK(sqrt(err / norm) > 1e-4 && sqrt(err / norm) < 0.5);

  vq_cache_stats st;
  CHECK_OK(vq_cache_stats_get(cache, &st));
  CHECK(st.tokens == tokens && st.memory_bytes > 0 && st.key_bits_per_coord > 3.0 && st.key_bits_per_coord < 3.5);

  vq_cache_config got;
  CHECK_OK(vq_cache_get_config(cache, &got));
  CHECK(got.kv_heads == 2 && got.q_heads == 4 && strcmp(got.value_format, "tq3") == 0);

  char path[64];
  snprintf(path, sizeof path, "c_api_test_%ld.vqkv", (long)getpid());
  CHECK_OK(vq_cache_save(cache, path));
  vq_cache* loaded = NULL;
  CHECK_OK(vq_cache_load(path, &loaded));
  CHECK_OK(vq_cache_attend(loaded, 1, 2, q, out2));
  CHECK(memcmp(out, out2, sizeof out) == 0); /* a loaded cache attends exactly like the original */
  vq_cache_stats st2;
  CHECK_OK(vq_cache_stats_get(loaded, &st2));
  CHECK(st2.memory_bytes == st.memory_bytes);

  /* Errors: bad layer, too many queries, truncated file, missing file. */
  CHECK(vq_cache_append(cache, 2, 1, k, v) == VQ_INVALID_ARGUMENT);
  CHECK(strstr(vq_last_error(), "layer 2") != NULL);
  CHECK(vq_cache_attend(cache, 0, tokens + 1, q, out) == VQ_INVALID_ARGUMENT);
  FILE* f = fopen(path, "r+b");
  CHECK(f != NULL);
  if (f) {
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fclose(f);
    CHECK(truncate(path, size - 3) == 0);
  }
  vq_cache* broken = (vq_cache*)0x1;
  CHECK(vq_cache_load(path, &broken) == VQ_CORRUPT_FILE);
  CHECK(broken == NULL);
  CHECK(strstr(vq_last_error(), path) != NULL);
  remove(path);
  CHECK(vq_cache_load(path, &broken) == VQ_IO_ERROR);

  /* The last error is per thread. */
  pthread_t thread;
  void* seen = NULL;
  CHECK(vq_cache_append(cache, 9, 1, k, v) == VQ_INVALID_ARGUMENT);
  CHECK(pthread_create(&thread, NULL, fail_in_thread, NULL) == 0);
  CHECK(pthread_join(thread, &seen) == 0);
  CHECK(seen != NULL);
  CHECK(strstr(vq_last_error(), "layer 9") != NULL);

  /* An exact cache (everything in the window) matches the reference to float precision. */
  c.window = 64;
  c.sinks = 0;
  c.exact_format = "f32"; /* the default "auto" keeps a tq3 cache's window in f16 */
  vq_cache* exact = NULL;
  CHECK_OK(vq_cache_create(&c, &exact));
  CHECK_OK(vq_cache_append(exact, 0, tokens, k, v));
  CHECK_OK(vq_cache_attend(exact, 0, 2, q, out));
  for (size_t i = 0; i < 2; ++i) {
    reference_attention(k, v, tokens, 2, 4, 64, q + i * qwidth, tokens - 1 + i, ref);
    for (size_t j = 0; j < qwidth; ++j) CHECK(fabs(out[i * qwidth + j] - ref[j]) < 1e-5);
  }
  CHECK_OK(vq_cache_truncate(exact, 10));
  CHECK_OK(vq_cache_tokens(exact, 0, &held));
  CHECK(held == 10);
  CHECK_OK(vq_cache_clear(exact));
  CHECK_OK(vq_cache_tokens(exact, 0, &held));
  CHECK(held == 0);

  vq_cache_destroy(exact);
  vq_cache_destroy(loaded);
  vq_cache_destroy(cache);
  vq_cache_destroy(NULL);
  free(k);
  free(v);
}

/* Gemma-style sliding windows and per-layer formats: layer 0 keeps and attends its last 6 tokens,
   layer 1 stores its keys at q8. */
static void test_cache_policies(void) {
  vq_cache_config c;
  vq_cache_config_init(&c);
  CHECK(c.softcap == 0.0f && c.sliding_windows == NULL && c.layer_key_formats == NULL);
  const size_t windows[2] = {6, 0};
  const char* const keys[2] = {NULL, "q8"};
  c.layers = 2;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.key_format = c.value_format = "f32";
  c.window = c.sinks = 0;
  c.sliding_windows = windows;
  c.layer_key_formats = keys;
  const size_t tokens = 40, width = c.kv_heads * c.head_dim, qwidth = c.q_heads * c.head_dim;
  vq_cache* cache = NULL;
  CHECK_OK(vq_cache_create(&c, &cache));
  float* k = malloc(tokens * width * sizeof(float));
  float* v = malloc(tokens * width * sizeof(float));
  float q[4 * 64], out[4 * 64], out2[4 * 64], ref[4 * 64];
  fill_normal(k, tokens * width);
  fill_normal(v, tokens * width);
  fill_normal(q, qwidth);
  for (size_t layer = 0; layer < 2; ++layer) {
    CHECK_OK(vq_cache_append(cache, layer, 30, k, v));
    CHECK_OK(vq_cache_append(cache, layer, tokens - 30, k + 30 * width, v + 30 * width));
  }
  size_t held = 0, appended = 0;
  CHECK_OK(vq_cache_tokens(cache, 0, &held));
  CHECK_OK(vq_cache_appended(cache, 0, &appended));
  CHECK(held < tokens && appended == tokens);
  CHECK_OK(vq_cache_attend(cache, 0, 1, q, out));
  reference_attention(k + (tokens - 6) * width, v + (tokens - 6) * width, 6, 2, 4, 64, q, 6, ref);
  for (size_t j = 0; j < qwidth; ++j) CHECK(fabs(out[j] - ref[j]) < 1e-5);
  int can = -1;
  CHECK_OK(vq_cache_can_truncate(cache, 10, &can));
  CHECK(can == 0);
  CHECK_OK(vq_cache_can_truncate(cache, tokens, &can));
  CHECK(can == 1);
  CHECK(vq_cache_truncate(cache, 10) == VQ_INVALID_ARGUMENT);
  CHECK(strstr(vq_last_error(), "sliding window") != NULL);

  vq_cache_config got;
  CHECK_OK(vq_cache_get_config(cache, &got));
  CHECK(got.sliding_windows != NULL && got.sliding_windows[0] == 6 && got.sliding_windows[1] == 0);
  CHECK(got.layer_key_formats != NULL && strcmp(got.layer_key_formats[0], "") == 0 &&
        strcmp(got.layer_key_formats[1], "q8") == 0 && got.layer_value_formats == NULL);
  char path[64];
  snprintf(path, sizeof path, "c_api_policies_%ld.vqkv", (long)getpid());
  CHECK_OK(vq_cache_save(cache, path));
  vq_cache* loaded = NULL;
  CHECK_OK(vq_cache_load(path, &loaded));
  remove(path);
  CHECK_OK(vq_cache_attend(cache, 1, 1, q, out));
  CHECK_OK(vq_cache_attend(loaded, 1, 1, q, out2));
  CHECK(memcmp(out, out2, sizeof out) == 0);
  CHECK_OK(vq_cache_get_config(loaded, &got));
  CHECK(got.layer_key_formats != NULL && strcmp(got.layer_key_formats[1], "q8") == 0);

  const char* const values[2] = {"", "tq9"};
  c.layer_value_formats = values;
  vq_cache* bad = NULL;
  CHECK(vq_cache_create(&c, &bad) == VQ_INVALID_ARGUMENT && bad == NULL);
  CHECK(strstr(vq_last_error(), "tq9") != NULL);
  vq_cache_destroy(loaded);
  vq_cache_destroy(cache);
  free(k);
  free(v);
}

int main(void) {
  CHECK(strlen(vq_version()) > 0);
  CHECK(strcmp(vq_status_name(VQ_CORRUPT_FILE), "VQ_CORRUPT_FILE") == 0);
  test_quantizer();
  test_cache();
  test_cache_policies();
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("c_api_test: all checks passed\n");
  return failures ? 1 : 0;
}
