"""Geometric verification: do two photos share a rigid 3-D scene? Evidence a curator can see.

RootSIFT local features (Arandjelović & Zisserman 2012: SIFT descriptors L1-normalised and
square-rooted, so Euclidean distance compares them like the Hellinger kernel), mutual
nearest-neighbour matches that pass Lowe's ratio test (0.8), then a fundamental matrix by
MAGSAC++ (OpenCV's ``USAC_MAGSAC``) — the epipolar model holds for any static scene seen from two
viewpoints, unlike a homography, which only fits planes. The inliers are correspondences that
agree with one camera geometry; a true pair of photos of one street corner typically gives
dozens, an unrelated pair a handful of chance agreements.

Images are read upright (EXIF orientation) and shrunk to ``max_side`` so the cost is bounded
(~0.1 s per photo for features, ~10 ms per pair for matching); points are returned in the
coordinates of the original photo so a view can draw them over it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geomatch_app.core import files

log = logging.getLogger(__name__)

MAX_SIDE = 640
RATIO = 0.8
RANSAC_PX = 3.0  # epipolar distance threshold at MAX_SIDE resolution
MIN_MATCHES = 8  # the 8-point minimum of a fundamental matrix
# The calibration's inlier feature was fitted with these two (benchmarks/bench_verify.py
# measures what smaller values would change; changing them means refitting the calibration).
N_FEATURES = 2000


@dataclass
class LocalFeatures:
    """Keypoints (N, 2) in original-image pixels and their RootSIFT descriptors (N, 128)."""

    points: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]  # original (width, height)
    scale: float  # original pixels per working pixel


@dataclass
class Verification:
    """Verified correspondences of a (query, candidate) pair."""

    inliers: int
    matches: int  # tentative matches that passed the ratio test
    query_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    cand_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    query_size: tuple[int, int] = (0, 0)
    cand_size: tuple[int, int] = (0, 0)

    def to_json(self) -> dict:
        return {"inliers": self.inliers, "matches": self.matches,
                "query_points": np.round(self.query_points, 1).tolist(),
                "cand_points": np.round(self.cand_points, 1).tolist()}


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a dependency, but say what to do
        from geomatch_app.core.errors import GeomatchError

        raise GeomatchError(f"geometric verification needs OpenCV ({exc})", None,
                            "install opencv-python-headless") from None
    return cv2


def local_features(image, max_side: int = MAX_SIDE, n_features: int = N_FEATURES
                   ) -> LocalFeatures:
    """RootSIFT features of a photo (a path, a PIL image or an (H, W[, 3]) uint8 array)."""
    cv2 = _cv2()
    if isinstance(image, (str, Path)):
        from geomatch_app.data.images import load_image

        image = load_image(image)
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    arr = arr.astype(np.uint8)
    h, w = arr.shape[:2]
    scale = max(h, w) / max_side if max(h, w) > max_side else 1.0
    if scale > 1.0:
        arr = cv2.resize(arr, (round(w / scale), round(h / scale)), interpolation=cv2.INTER_AREA)
    sift = cv2.SIFT_create(nfeatures=n_features)
    kps, desc = sift.detectAndCompute(arr, None)
    if desc is None or not kps:
        return LocalFeatures(np.zeros((0, 2)), np.zeros((0, 128), np.float32), (w, h), scale)
    desc = desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)  # RootSIFT: L1, then sqrt
    desc = np.sqrt(desc).astype(np.float32)
    pts = np.array([k.pt for k in kps], dtype=np.float64) * scale
    return LocalFeatures(pts, desc, (w, h), scale)


def _mutual_ratio_matches(a: np.ndarray, b: np.ndarray, ratio: float) -> np.ndarray:
    """(M, 2) index pairs: mutual nearest neighbours whose best/second-best distance ratio is
    below ``ratio`` (in both directions' first neighbour)."""
    if len(a) < 2 or len(b) < 2:
        return np.zeros((0, 2), int)
    d = np.maximum(2.0 - 2.0 * (a @ b.T), 0.0)  # squared distance of unit vectors
    # Two row minima and the column argmin by contiguous passes (~2.5× faster than a row
    # argpartition plus a column-wise argmin over the 2000 × 2000 matrix, same matches: the
    # two smallest distances are the same numbers, a row whose best is tied fails the ratio
    # test either way, and columns keep argmin's first index).
    rows = np.arange(len(a))
    best_b = np.argmin(d, axis=1)
    d1 = d[rows, best_b]
    d[rows, best_b] = np.inf
    d2 = d.min(axis=1)
    d[rows, best_b] = d1
    ok = np.sqrt(d1) < ratio * np.sqrt(d2)
    best_a = np.argmin(np.ascontiguousarray(d.T), axis=1)
    mutual = best_a[best_b] == rows
    keep = np.nonzero(ok & mutual)[0]
    return np.column_stack([keep, best_b[keep]])


def verify_features(q: LocalFeatures, c: LocalFeatures, ratio: float = RATIO,
                    ransac_px: float = RANSAC_PX, seed: int = 0) -> Verification:
    """Inliers of a fundamental matrix fitted by MAGSAC++ to the ratio-test matches."""
    cv2 = _cv2()
    pairs = _mutual_ratio_matches(q.descriptors, c.descriptors, ratio)
    empty = Verification(0, len(pairs), query_size=q.size, cand_size=c.size)
    if len(pairs) < MIN_MATCHES:
        return empty
    p1 = q.points[pairs[:, 0]].astype(np.float64)
    p2 = c.points[pairs[:, 1]].astype(np.float64)
    cv2.setRNGSeed(seed)
    thresh = ransac_px * max(q.scale, c.scale)
    try:
        f, mask = cv2.findFundamentalMat(p1, p2, cv2.USAC_MAGSAC, thresh, 0.999, 10000)
    except cv2.error as exc:  # degenerate configurations
        log.debug("fundamental matrix failed: %s", exc)
        return empty
    if f is None or mask is None:
        return empty
    m = mask.ravel().astype(bool)
    return Verification(int(m.sum()), len(pairs), p1[m], p2[m], q.size, c.size)


class FeatureStore:
    """Local features on disk, so a photo is described once, not once per process (every
    `geomatch query` is a new process; the window forgets its cache on restart). One ``.npz``
    per (file path, size, mtime, settings) in ``folder`` — a changed file is described again —
    with the exact arrays (float64 points, float32 descriptors: inlier counts are those of a
    fresh extraction). About 1 MB per photo; beyond ``max_bytes`` the least recently used files
    are deleted. A file that cannot be read or written is a cache miss, never an error."""

    def __init__(self, folder: str | Path, max_bytes: int = 512 * 2**20) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._writes = 0

    def _file(self, path: str, max_side: int, n_features: int) -> Path | None:
        import hashlib
        import os

        try:
            st = os.stat(path)
        except OSError:
            return None
        key = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{max_side}|{n_features}"
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def get(self, path: str, max_side: int, n_features: int) -> LocalFeatures | None:
        f = self._file(path, max_side, n_features)
        if f is None or not f.is_file():
            return None
        try:
            with np.load(f) as z:
                feats = LocalFeatures(z["points"], z["descriptors"],
                                      (int(z["size"][0]), int(z["size"][1])), float(z["scale"]))
            f.touch()  # recently used: kept by the eviction
            return feats
        except (OSError, ValueError, KeyError, IndexError) as exc:
            log.info("%s: unreadable feature cache entry (%s); describing again", f, exc)
            return None

    def put(self, path: str, max_side: int, n_features: int, feats: LocalFeatures) -> None:
        f = self._file(path, max_side, n_features)
        if f is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with files.replacing(f, suffix=".npz") as tmp:
                np.savez(tmp, points=feats.points, descriptors=feats.descriptors,
                         size=np.array(feats.size), scale=np.array(feats.scale))
        except OSError as exc:
            log.info("%s: cannot cache local features (%s)", f, exc)
            return
        self._writes += 1
        if self._writes % 32 == 1:
            self.evict()

    def evict(self) -> None:
        """Delete the least recently used entries beyond ``max_bytes``."""
        try:
            entries = [(e.stat().st_mtime_ns, e.stat().st_size, e)
                       for e in self.folder.glob("*.npz")]
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, e in sorted(entries, key=lambda t: t[0]):
            if total <= self.max_bytes:
                break
            try:
                e.unlink()
                total -= size
            except OSError:
                pass


class Verifier:
    """Verifies (query, candidate) paths, keeping the features of recent photos (LRU), so the
    top-k of one query costs one feature extraction per photo, and every pair's inlier count
    (it depends on the two images only, not on the model: comparing indexes re-uses it). One
    photo's features take up to ~1 MB (2000 × 128 floats), hence the small default cache."""

    def __init__(self, max_side: int = MAX_SIDE, cache_size: int = 64,
                 n_features: int = N_FEATURES, store: FeatureStore | None = None) -> None:
        self.max_side = max_side
        self.n_features = n_features
        self.store = store  # features on disk, shared by every process (FeatureStore)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, LocalFeatures] = OrderedDict()
        self._inliers: dict[tuple[str, str], int] = {}  # pair counts are small: keep them all
        self._lock = threading.Lock()

    def features(self, path: str) -> LocalFeatures:
        key = str(path)
        with self._lock:  # the window's ranking and side-by-side jobs share one verifier
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        feats = self.store.get(key, self.max_side, self.n_features) if self.store else None
        if feats is None:
            feats = local_features(key, self.max_side, self.n_features)
            if self.store is not None:
                self.store.put(key, self.max_side, self.n_features, feats)
        with self._lock:
            self._cache[key] = feats
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return feats

    def verify(self, query_path: str, cand_path: str) -> Verification:
        return verify_features(self.features(query_path), self.features(cand_path))

    def inliers(self, query_path: str, cand_path: str) -> int:
        """Inlier count, 0 when a photo cannot be read (verification is evidence, not a gate)."""
        from geomatch_app.core.errors import GeomatchError

        key = (str(query_path), str(cand_path))
        if key not in self._inliers:
            try:
                self._inliers[key] = self.verify(query_path, cand_path).inliers
            except (GeomatchError, OSError) as exc:
                log.warning("verification skipped for %s / %s: %s", query_path, cand_path, exc)
                return 0
        return self._inliers[key]

    __call__ = inliers


def verify_pair(query_path: str, cand_path: str, max_side: int = MAX_SIDE) -> Verification:
    """One-off verification of two photo files."""
    return verify_features(local_features(query_path, max_side),
                           local_features(cand_path, max_side))
