import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def cli():
    """Path of the built `veloxquant` CLI (set by ctest); tests needing it skip without it."""
    path = os.environ.get("VELOXQUANT_CLI")
    if not path or not pathlib.Path(path).exists():
        pytest.skip("VELOXQUANT_CLI is not set (run through ctest)")
    return path
