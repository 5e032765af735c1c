"""The quantizer-level API: shapes, dtypes, errors, and TurboQuant-MSE against a numpy reference."""
import numpy as np
import pytest

import veloxquant as vq


def unit_rows(n, d, seed):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_formats_lists_the_table():
    names = [f["name"] for f in vq.formats()]
    for expected in ("f32", "f16", "q8", "q4", "tq3", "qjl", "polar"):
        assert expected in names
    assert all(f["description"] for f in vq.formats())


def test_properties_and_record_size():
    q = vq.Quantizer("tq3", dim=128, seed=0)
    assert q.dim == 128 and q.seed == 0 and q.name == "tq3"
    assert q.bits_per_coord == pytest.approx(8 * q.code_size / 128)
    assert 3.0 <= q.bits_per_coord <= 3.5
    assert "tq3" in repr(q)


def test_encode_decode_shapes_and_empty_batches():
    q = vq.Quantizer("tq4", dim=64, seed=3)
    x = unit_rows(5, 64, 0)
    codes = q.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (5, q.code_size)
    assert q.decode(codes).shape == (5, 64) and q.decode(codes).dtype == np.float32
    one = q.encode(x[0])
    assert one.shape == (q.code_size,)
    np.testing.assert_array_equal(one, codes[0])
    assert q.decode(one).shape == (64,)
    empty = q.encode(np.zeros((0, 64), np.float32))
    assert empty.shape == (0, q.code_size)
    assert q.decode(empty).shape == (0, 64)


def test_dtype_and_layout_conversions_give_the_same_codes():
    q = vq.Quantizer("tq3", dim=32, seed=1)
    x = unit_rows(7, 32, 1)
    ref = q.encode(x)
    np.testing.assert_array_equal(q.encode(x.astype(np.float64)), ref)  # float64 -> float32
    np.testing.assert_array_equal(q.encode(np.asfortranarray(x)), ref)  # non-C order
    wide = np.zeros((7, 64), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(q.encode(wide[:, ::2]), ref)  # strided view
    np.testing.assert_array_equal(q.encode(x.tolist()), q.encode(np.asarray(x.tolist(), np.float32)))
    codes_view = np.zeros((7, 2 * q.code_size), np.uint8)
    codes_view[:, ::2] = ref
    np.testing.assert_array_equal(q.decode(codes_view[:, ::2]), q.decode(ref))


def test_bad_input_raises_python_errors_with_the_cpp_message():
    q = vq.Quantizer("tq3", dim=128, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 128\) or \(128,\), got \(3, 64\)"):
        q.encode(np.zeros((3, 64), np.float32))
    with pytest.raises(ValueError, match=r"got \(2, 3, 128\)"):
        q.encode(np.zeros((2, 3, 128), np.float32))
    with pytest.raises(ValueError, match="codes must have shape"):
        q.decode(np.zeros((2, q.code_size + 1), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        q.decode(np.zeros((2, q.code_size), np.int64))
    with pytest.raises(TypeError, match="real numbers"):
        q.encode(np.zeros((1, 128), np.complex64))
    with pytest.raises(TypeError):
        q.encode("not an array")
    bad = np.zeros((2, 128), np.float32)
    bad[1, 5] = np.nan
    with pytest.raises(ValueError):
        q.encode(bad)
    with pytest.raises(ValueError, match="tq99"):
        vq.Quantizer("tq99", dim=128)
    with pytest.raises(ValueError, match="nosuchformat"):
        vq.Quantizer("nosuchformat", dim=128)
    with pytest.raises(ValueError):
        vq.Quantizer("tq3", dim=0)
    with pytest.raises(ValueError, match=r"q must have shape"):
        q.inner_products(np.zeros(127, np.float32), q.encode(bad[:1] * 0))


def test_zero_vector_decodes_to_zero():
    q = vq.Quantizer("tq2", dim=16, seed=0)
    np.testing.assert_array_equal(q.decode(q.encode(np.zeros((1, 16), np.float32))), np.zeros((1, 16), np.float32))


@pytest.mark.parametrize("fmt", ["tq3", "tq4", "q8", "f16", "polar"])
def test_inner_products_on_codes_match_the_decoded_vectors(fmt):
    q = vq.Quantizer(fmt, dim=128, seed=7)
    x = unit_rows(50, 128, 2)
    queries = unit_rows(4, 128, 3)
    codes = q.encode(x)
    est = q.inner_products(queries, codes)
    assert est.shape == (4, 50)
    decoded = q.decode(codes)
    exact = queries @ decoded.T
    if fmt in ("tq3", "tq4"):
        # <= 4-bit TurboQuant keys are scored in int8 (rounded query and codebook); the library
        # documents an error below 1 % of |q|*|x_hat| (about 10x the typical rounding error).
        bound = 0.01 * np.linalg.norm(queries, axis=1)[:, None] * np.linalg.norm(decoded, axis=1)[None, :]
        assert np.all(np.abs(est - exact) <= bound)
        assert not np.array_equal(est, exact)
    else:
        np.testing.assert_allclose(est, exact, rtol=0, atol=2e-5)
    assert q.inner_products(queries[0], codes).shape == (50,)


def reference_tq_mse(x, rotation, codebook):
    """TurboQuant-MSE with the stored scale = ||x|| (theory.md): indices and reconstruction."""
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    u = x / np.where(norms == 0, 1, norms)
    y = u.astype(np.float64) @ rotation.T.astype(np.float64)
    idx = np.searchsorted(codebook["boundaries"].astype(np.float64), y, side="left")
    c = codebook["centroids"].astype(np.float64)[idx]
    return idx, y, norms * (c @ rotation.astype(np.float64))


@pytest.mark.parametrize("dim", [128, 96])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_turboquant_mse_agrees_with_a_numpy_reference(dim, bits):
    q = vq.Quantizer(f"tq{bits}:scale=norm", dim=dim, seed=11)
    rotation = q.rotation_matrix()
    assert rotation.shape == (dim, dim)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(dim), atol=1e-5)
    codebook = vq.sphere_codebook(dim, bits)
    x = unit_rows(400, dim, 4) * np.float32(3.5)
    idx, y, ref = reference_tq_mse(x, rotation, codebook)
    got = q.decode(q.encode(x)).astype(np.float64)
    # Recover the library's centroid choice per coordinate from its reconstruction.
    scale = np.linalg.norm(x, axis=1, keepdims=True)
    y_lib = (got @ rotation.T.astype(np.float64)) / scale
    got_idx = np.abs(y_lib[:, :, None] - codebook["centroids"][None, None, :]).argmin(axis=2)
    # Indices must agree except where float rounding sits right on a boundary.
    dist = np.abs(y[:, :, None] - codebook["boundaries"][None, None, :]).min(axis=2)
    differ = got_idx != idx
    assert not np.any(differ & (dist > 1e-5)), f"{differ.sum()} indices differ away from boundaries"
    same_rows = ~differ.any(axis=1)
    assert same_rows.mean() > 0.95
    # The stored scale is ||x|| in fp16 (or better): relative error of 2^-11 at most.
    np.testing.assert_allclose(got[same_rows], ref[same_rows], rtol=0, atol=3.5 * 2.0**-10)


@pytest.mark.parametrize("bits,theory", [(1, 0.36089), (2, 0.11600), (3, 0.03397), (4, 0.00931)])
def test_turboquant_mse_distortion_matches_theory(bits, theory):
    # theory.md, exact column for d = 128, within 2 % as in the core tests; 4000 vectors give a
    # relative standard error of about 0.3 %.
    q = vq.Quantizer(f"tq{bits}:scale=norm", dim=128, seed=5)
    x = unit_rows(4000, 128, 6)
    mse = np.mean(np.sum((q.decode(q.encode(x)) - x) ** 2, axis=1))
    assert mse == pytest.approx(theory, rel=0.02)


def test_norm_correction_does_not_raise_mse():
    x = unit_rows(2000, 128, 8)
    mse = {}
    for name in ("tq3", "tq3:scale=norm"):
        q = vq.Quantizer(name, dim=128, seed=9)
        mse[name] = np.mean(np.sum((q.decode(q.encode(x)) - x) ** 2, axis=1))
    assert mse["tq3"] <= mse["tq3:scale=norm"]


def test_same_seed_same_codes_other_seed_other_codes():
    x = unit_rows(20, 64, 10)
    a = vq.Quantizer("tq3", dim=64, seed=1).encode(x)
    np.testing.assert_array_equal(a, vq.Quantizer("tq3", dim=64, seed=1).encode(x))
    assert not np.array_equal(a, vq.Quantizer("tq3", dim=64, seed=2).encode(x))
