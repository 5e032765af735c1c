"""Save/load speed and size of a KV cache file; run: PYTHONPATH=build/python /usr/bin/python3 python/examples/persist_speed.py"""
import os
import tempfile
import time

import numpy as np

import veloxquant as vq

L, H, D, T = 8, 8, 128, 2048
rng = np.random.default_rng(0)
cache = vq.KVCache(layers=L, kv_heads=H, q_heads=4 * H, head_dim=D, key_format="tq3", value_format="tq3", window=128, sinks=4, seed=1)
for l in range(L):
    cache.append(rng.standard_normal((T, H, D), dtype=np.float32), rng.standard_normal((T, H, D), dtype=np.float32), layer=l)
path = os.path.join(tempfile.mkdtemp(), "cache.vqkv")
t0 = time.perf_counter(); cache.save(path); t1 = time.perf_counter()
loaded = vq.load_cache(path); t2 = time.perf_counter()
q = rng.standard_normal((1, 4 * H, D), dtype=np.float32)
same = all(np.array_equal(cache.attend(q, layer=l), loaded.attend(q, layer=l)) for l in range(L))
size = os.path.getsize(path)
print(f"L={L} kv_heads={H} d={D} tokens={T} tq3/tq3 window=128 sinks=4: file {size/1e6:.2f} MB, memory_bytes {cache.memory_bytes()/1e6:.2f} MB, "
      f"save {1e3*(t1-t0):.1f} ms ({size/1e6/(t1-t0):.0f} MB/s), load {1e3*(t2-t1):.1f} ms ({size/1e6/(t2-t1):.0f} MB/s), identical attend: {same}")
os.remove(path)
os.rmdir(os.path.dirname(path))
