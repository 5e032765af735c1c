"""The seed's artifact stores (veloxquant.artifacts)."""
from veloxquant.artifacts import (  # noqa: F401
    ArtifactNotFoundError,
    ArtifactStore,
    InMemoryArtifactStore,
    NpyArtifactStore,
)

__all__ = ["ArtifactNotFoundError", "ArtifactStore", "InMemoryArtifactStore", "NpyArtifactStore"]
