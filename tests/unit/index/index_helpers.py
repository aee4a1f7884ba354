"""Synthetic indexes for storage tests: no model, a few random unit vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 8


def fingerprint(dim: int = DIM) -> dict:
    return {"name": "synthetic", "kwargs": {}, "weight_hash": "0123456789abcdef",
            "preprocess": {"size": 32}, "dim": dim}


def vectors(seed: int, n: int, dim: int = DIM) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def records(seed: int, n: int) -> list[dict]:
    return [{"path": f"/photos/set{seed}/{i}.jpg", "size": 100 + i, "mtime_ns": 10**18 + i,
             "lat": 50.0 + i / 10, "lon": 10.0 - i / 10, "heading": None,
             "place_id": f"p{seed}_{i}", "domain": ""} for i in range(n)]


def write(folder: Path, seed: int, n: int = 5, **kw) -> int:
    """Write a synthetic generation (flat index) into ``folder``; returns its number."""
    from geomatch_app.index import write_index

    return write_index(folder, vectors(seed, n), records(seed, n), fingerprint(), **kw)


def state(folder: Path) -> tuple[list[str], np.ndarray]:
    """What a reader sees: the photo paths and the vectors, in index order."""
    from geomatch_app.index import Index

    idx = Index.open(folder)
    return [p.path for p in idx.photos], idx.descriptors()


def same(a: tuple[list[str], np.ndarray], b: tuple[list[str], np.ndarray]) -> bool:
    return a[0] == b[0] and a[1].shape == b[1].shape and np.allclose(a[1], b[1], atol=1e-3)


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp" in p.name)
