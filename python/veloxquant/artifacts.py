"""Artifact stores: precomputed codebooks, rotation matrices and QJL matrices (the seed's DAO API).

``NpyArtifactStore(dir)`` reads the directory ``veloxquant precompute`` (or
``python -m mlx_kv_quant precompute``) writes: manifest.json plus .npy files, each checked against
its CRC-32 (docs/file_formats.md). ``InMemoryArtifactStore()`` holds the same kinds of arrays in
dicts. ``KVCacheBuilder().with_artifact_store(store)`` installs the store's sphere codebooks for
the cache's head dimension before building, so they are not solved again.

What a store holds and what the cache takes from it: codebooks depend only on (dim, bits) and are
used as they are. Rotations and sketches depend on a seed: the stored ones are those of
``Quantizer(format, dim, seed)`` (``rotation_matrix(d, seed)`` is its Π). A cache derives one seed
per layer, head, keys and values from its own seed (docs/kv_cache.md), so its rotations are
rebuilt from those (a randomized Hadamard for power-of-two dims, which costs nothing to build);
they are not read from the store.
"""
import pathlib

import numpy as np

from . import _core


class ArtifactNotFoundError(LookupError):
    """The store has no artifact with these parameters."""


_SPHERE = ("sphere", "beta", "gaussian")  # names the seed used for the coordinate distribution


class ArtifactStore:
    """Interface: load_* raise ArtifactNotFoundError when absent; exists(kind, **params)."""

    def load_rotation_matrix(self, d, seed):
        raise NotImplementedError

    def load_codebook(self, distribution, b, d):
        raise NotImplementedError

    def load_jl_matrix(self, d, m, seed):
        raise NotImplementedError

    def exists(self, artifact_type, **kwargs):
        loaders = {"rotation": lambda: self.load_rotation_matrix(kwargs["d"], kwargs["seed"]),
                   "codebook": lambda: self.load_codebook(kwargs["distribution"], kwargs["b"], kwargs["d"]),
                   "jl": lambda: self.load_jl_matrix(kwargs["d"], kwargs["m"], kwargs["seed"])}
        if artifact_type not in loaders:
            return False
        try:
            loaders[artifact_type]()
            return True
        except ArtifactNotFoundError:
            return False

    def install(self, head_dim):
        """Makes veloxquant use this store's sphere codebooks of dimension head_dim."""
        raise NotImplementedError


class NpyArtifactStore(ArtifactStore):
    """The artifact directory of `precompute`: one dim and seed, several bit widths."""

    def __init__(self, root_dir):
        self._root = pathlib.Path(root_dir)
        self._manifest = None

    @property
    def root(self):
        return self._root

    def precompute(self, head_dim=128, bits=(1, 2, 3, 4), jl_dim=128, seed=42):
        """Writes the artifacts (creates the directory); returns the manifest."""
        self._manifest = _core.write_artifacts(str(self._root), head_dim, list(bits), seed, jl_dim)
        return self._manifest

    def manifest(self):
        """The validated manifest (every file's size and CRC-32 checked). RuntimeError names a bad file."""
        if self._manifest is None:
            if not (self._root / "manifest.json").exists():
                raise ArtifactNotFoundError(f"no artifacts in {self._root}: run `python -m mlx_kv_quant precompute "
                                            f"--output_dir {self._root}` first")
            # load_artifacts validates everything (and installs the codebooks, which is harmless).
            self._manifest = _core.load_artifacts(str(self._root))
        return self._manifest

    def _array(self, name):
        return np.load(self._root / name)

    def load_rotation_matrix(self, d, seed):
        m = self.manifest()
        if (m["dim"], m["seed"]) != (d, seed):
            raise ArtifactNotFoundError(f"{self._root} holds the rotation of dim {m['dim']} seed {m['seed']}, "
                                        f"not dim {d} seed {seed}")
        return self._array(m["rotation_file"])

    def load_codebook(self, distribution, b, d):
        m = self.manifest()
        if distribution in _SPHERE and d == m["dim"]:
            for cb in m["codebooks"]:
                if cb["kind"] == "sphere" and cb["bits"] == b:
                    return {"bits": b, "centroids": self._array(cb["centroids_file"]),
                            "boundaries": self._array(cb["boundaries_file"]), "mse": cb["mse"]}
        raise ArtifactNotFoundError(f"{self._root} has no {distribution} codebook of {b} bits for dim {d}")

    def load_jl_matrix(self, d, m, seed):
        man = self.manifest()
        if (man["dim"], man["qjl_dim"], man["seed"]) != (d, m, seed):
            raise ArtifactNotFoundError(f"{self._root} holds the QJL matrix of dim {man['dim']}, m {man['qjl_dim']}, "
                                        f"seed {man['seed']}, not dim {d}, m {m}, seed {seed}")
        return self._array(man["qjl_file"])

    def install(self, head_dim):
        m = self.manifest()
        if m["dim"] != head_dim:
            raise ValueError(f"the artifacts in {self._root} are for head_dim {m['dim']}, the cache has {head_dim}")
        _core.load_artifacts(str(self._root))

    def __repr__(self):
        return f"NpyArtifactStore(root={str(self._root)!r})"


class InMemoryArtifactStore(ArtifactStore):
    """Artifacts in dicts (tests, short scripts). Arrays are stored as float32 copies."""

    def __init__(self):
        self._rotations, self._codebooks, self._jls = {}, {}, {}

    def save_rotation_matrix(self, Pi, d, seed):
        self._rotations[(d, seed)] = np.array(Pi, dtype=np.float32)

    def load_rotation_matrix(self, d, seed):
        if (d, seed) not in self._rotations:
            raise ArtifactNotFoundError(f"InMemoryArtifactStore: no rotation d={d} seed={seed}")
        return self._rotations[(d, seed)]

    def save_codebook(self, cb, distribution, b, d):
        """cb: a dict as veloxquant.sphere_codebook returns (centroids, boundaries, mse), or centroids."""
        entry = dict(cb) if isinstance(cb, dict) else {"centroids": cb}
        entry["centroids"] = np.array(entry["centroids"], dtype=np.float32)
        if "boundaries" not in entry:
            c = entry["centroids"]
            entry["boundaries"] = ((c[1:] + c[:-1]) / 2).astype(np.float32)
        entry["bits"] = b
        self._codebooks[(distribution, b, d)] = entry

    def load_codebook(self, distribution, b, d):
        if (distribution, b, d) not in self._codebooks:
            raise ArtifactNotFoundError(f"InMemoryArtifactStore: no codebook {distribution} b={b} d={d}")
        return self._codebooks[(distribution, b, d)]

    def save_jl_matrix(self, S, d, m, seed):
        self._jls[(d, m, seed)] = np.array(S, dtype=np.float32)

    def load_jl_matrix(self, d, m, seed):
        if (d, m, seed) not in self._jls:
            raise ArtifactNotFoundError(f"InMemoryArtifactStore: no JL matrix d={d} m={m} seed={seed}")
        return self._jls[(d, m, seed)]

    def precompute(self, head_dim=128, bits=(1, 2, 3, 4), jl_dim=128, seed=42):
        """Fills the store as `precompute` fills a directory: codebooks, the rotation and the QJL
        matrix of a quantizer made with `seed`."""
        for b in bits:
            self.save_codebook(_core.sphere_codebook(head_dim, b), "sphere", b, head_dim)
        self.save_rotation_matrix(_core.rotation_matrix(head_dim, _core.purpose_seed(seed, "rotation")), head_dim, seed)
        self.save_jl_matrix(_core.gaussian_matrix(jl_dim, head_dim, _core.purpose_seed(seed, "sketch")), head_dim,
                            jl_dim, seed)

    def install(self, head_dim):
        for (distribution, b, d), cb in self._codebooks.items():
            if distribution not in _SPHERE or d != head_dim:
                continue
            if "mse" not in cb:
                raise ValueError(f"the {distribution} codebook b={b} d={d} has no mse: save the dict "
                                 "veloxquant.sphere_codebook returns")
            _core.set_sphere_codebook(d, b, cb["centroids"], cb["boundaries"], cb["mse"])

    def __repr__(self):
        return (f"InMemoryArtifactStore(rotations={len(self._rotations)}, codebooks={len(self._codebooks)}, "
                f"jls={len(self._jls)})")

