"""`veloxquant precompute` output: numpy loads every file, checksums match, contents equal the library's."""
import json
import subprocess
import zlib

import numpy as np
import pytest

import veloxquant as vq


@pytest.fixture(scope="module")
def artifacts(cli, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    subprocess.run([cli, "precompute", "--dim", "64", "--bits", "1,2,3", "--seed", "42", "--out", str(out)],
                   check=True, capture_output=True)
    return out, json.loads((out / "manifest.json").read_text())


def test_numpy_loads_every_file_with_the_listed_dtype_shape_and_checksum(artifacts):
    out, manifest = artifacts
    assert manifest["format"] == "veloxquant-artifacts" and manifest["dim"] == 64
    assert manifest["bits"] == [1, 2, 3] and manifest["seed"] == 42
    assert len(manifest["files"]) == 3 * 2 + 4 * 3 * 2 + 2
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        assert len(data) == f["bytes"]
        assert format(zlib.crc32(data), "08x") == f["crc32"], f["name"]
        a = np.load(out / f["name"], allow_pickle=False)
        assert a.dtype == np.dtype(f["dtype"]) and list(a.shape) == f["shape"], f["name"]


def test_contents_equal_what_the_library_computes(artifacts):
    out, manifest = artifacts
    for cb in manifest["codebooks"]:
        lib = vq.sphere_codebook(64, cb["bits"]) if cb["kind"] == "sphere" else vq.polar_angle_codebook(cb["level"], cb["bits"])
        np.testing.assert_array_equal(np.load(out / cb["centroids"]), lib["centroids"])
        np.testing.assert_array_equal(np.load(out / cb["boundaries"]), lib["boundaries"])
        assert cb["mse"] == lib["mse"]
    rot = np.load(out / manifest["rotation"]["file"])
    assert manifest["rotation"]["kind"] == "hadamard"
    # The rotation of a quantizer made with seed 42 (the manifest records the derived seed).
    np.testing.assert_array_equal(rot, vq.rotation_matrix(64, manifest["rotation"]["seed"]))
    np.testing.assert_array_equal(rot, vq.Quantizer("tq2", dim=64, seed=42).rotation_matrix())
    np.testing.assert_allclose(rot @ rot.T, np.eye(64), atol=1e-5)
    qjl = manifest["qjl"]
    np.testing.assert_array_equal(np.load(out / qjl["file"]), vq.gaussian_matrix(qjl["rows"], 64, qjl["seed"]))


def test_load_artifacts_validates_and_rejects_a_corrupted_file(artifacts, tmp_path):
    out, manifest = artifacts
    info = vq.load_artifacts(str(out))
    assert info["dim"] == 64 and info["bits"] == [1, 2, 3]
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    victim = tmp_path / manifest["codebooks"][0]["centroids"]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="CRC-32"):
        vq.load_artifacts(str(tmp_path))


def test_cli_inspect_checks_every_file(cli, artifacts, tmp_path):
    out, manifest = artifacts
    report = json.loads(subprocess.run([cli, "inspect", str(out), "--json"], check=True, capture_output=True).stdout)
    assert report["valid"] is True and len(report["checks"]) == len(manifest["files"])
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / manifest["rotation"]["file"]).write_bytes(b"\x93NUMPY")
    bad = subprocess.run([cli, "inspect", str(tmp_path), "--json"], capture_output=True)
    assert bad.returncode == 1
    failed = [c["file"] for c in json.loads(bad.stdout)["checks"] if not c["ok"]]
    assert failed == [manifest["rotation"]["file"]]
    usage = subprocess.run([cli, "inspect"], capture_output=True, text=True)
    assert usage.returncode != 0 and "PATH" in usage.stderr
