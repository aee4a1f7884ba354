"""Descriptors of every shared set with ground truth, cached for the calibration benchmarks.

``collect(name, model)`` builds (or re-uses) an index of the set's gallery under
``$GEOMATCH_CALIB_CACHE`` (default /tmp/geomatch-calib) and embeds its queries once; later runs
load the cached arrays. Nordland's queries are subsampled (every 12th place, ~300 queries)
against its *whole* summer gallery, so neighbouring frames are there as in the real task (the
sequence ground truth counts frames within ±2 steps, training.places); the whole collection
stays a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geomatch_app.core.paths import shared_data_dir
from geomatch_app.core.types import Photo
from geomatch_app.data.gallery import load_photos

log = logging.getLogger(__name__)

SETS = ["vprtutorial_triplets", "fordham_places", "opensfm_berlin_lund", "corridor_vprbench",
        "nordland_seqslam"]
NORDLAND_STRIDE = 12


@dataclass
class SetData:
    name: str
    index_dir: Path
    queries: list[Photo]
    gallery: list[Photo]
    qdesc: np.ndarray
    gdesc: np.ndarray


def cache_dir() -> Path:
    return Path(os.environ.get("GEOMATCH_CALIB_CACHE", "/tmp/geomatch-calib"))


def _photos(name: str, role: str) -> list[Photo]:
    """The set's photos of one role; Nordland queries: every NORDLAND_STRIDE-th place only."""
    photos = load_photos(shared_data_dir() / name / "manifest.csv", role=role).photos
    if name != "nordland_seqslam" or role != "query":
        return photos
    keep = set(sorted({p.place_id for p in photos})[::NORDLAND_STRIDE])
    return [p for p in photos if p.place_id in keep]


def collect(name: str, model: str = "effnetlite2-gem", device: str = "cpu") -> SetData:
    from geomatch_app.index import Index, build_index
    from geomatch_app.index.faiss_index import is_index

    # "-full": the gallery is no longer subsampled (caches of the old layout are not re-used)
    work = cache_dir() / model / (name + ("-full" if name == "nordland_seqslam" else ""))
    qfile = work / "queries.npy"
    idx_dir = work / "index"
    queries = _photos(name, "query")
    if qfile.exists() and is_index(idx_dir):
        idx = Index.open(idx_dir, device=device)
        qdesc = np.load(qfile)
    else:
        work.mkdir(parents=True, exist_ok=True)
        idx = build_index(_photos(name, "gallery"), idx_dir, model_name=model, device=device)
        qdesc = idx.embed_paths([q.path for q in queries])
        np.save(qfile, qdesc)
        (work / "queries.json").write_text(json.dumps([q.path for q in queries]))
    if len(qdesc) != len(queries):
        raise SystemExit(f"{work}: cached queries do not match the set; delete the folder")
    ok = ~np.isnan(qdesc).any(axis=1)
    queries = [q for q, good in zip(queries, ok, strict=True) if good]
    return SetData(name, idx_dir, queries, idx.photos, qdesc[ok], idx.descriptors())


def all_queries(name: str, model: str = "effnetlite2-gem") -> tuple[list[Photo], np.ndarray]:
    """Every query photo of the set (Nordland not subsampled) and its descriptor, cached as
    ``allq.npy``: sequence matching needs the frames around each evaluated query."""
    d = collect(name, model)
    work = d.index_dir.parent
    photos = load_photos(shared_data_dir() / name / "manifest.csv", role="query").photos
    qfile = work / "allq.npy"
    if qfile.exists():
        descs = np.load(qfile)
    else:
        from geomatch_app.index import Index

        descs = Index.open(d.index_dir).embed_paths([p.path for p in photos])
        np.save(qfile, descs)
    if len(descs) != len(photos):
        raise SystemExit(f"{qfile}: cached queries do not match the set; delete it")
    return photos, descs


if __name__ == "__main__":
    import sys
    import time

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    for s in sys.argv[1:] or SETS:
        t = time.perf_counter()
        d = collect(s)
        print(f"{s}: {len(d.queries)} queries, {len(d.gallery)} gallery, "
              f"{time.perf_counter() - t:.0f} s", flush=True)
