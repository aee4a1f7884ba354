"""Geometric verification: many inliers on a real street pair, few on unrelated photos."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from geomatch_app.models.verify import (  # noqa: E402
    Verifier,
    local_features,
    verify_features,
    verify_pair,
)


def _texture(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 8, w // 8), dtype=np.uint8)
    import cv2

    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST),
                            (3, 3), 0)


def test_a_shifted_copy_verifies_and_points_map_back_to_the_original() -> None:
    img = _texture(0)
    shifted = np.roll(img, (0, 12), axis=(0, 1))
    v = verify_features(local_features(img), local_features(shifted))
    assert v.inliers >= 50
    dx = v.cand_points[:, 0] - v.query_points[:, 0]
    assert np.median(dx) == pytest.approx(12, abs=1.0)
    other = verify_features(local_features(img), local_features(_texture(1)))
    assert other.inliers < v.inliers / 4


def test_berlin_pair_has_many_inliers_unrelated_pair_few(shared_data) -> None:
    berlin = shared_data / "opensfm_berlin_lund" / "images"
    same = verify_pair(str(berlin / "berlin_01.jpg"), str(berlin / "berlin_03.jpg"))
    assert same.inliers >= 50
    w, h = same.query_size
    assert (same.query_points >= 0).all() and (same.query_points[:, 0] <= w).all()
    unrelated = verify_pair(str(berlin / "berlin_01.jpg"),
                            str(shared_data / "fordham_places" / "images" / "p0_i0.jpg"))
    assert unrelated.inliers <= 15


def test_verifier_caches_features_and_survives_unreadable_photos(tmp_path, shared_data) -> None:
    berlin = shared_data / "opensfm_berlin_lund" / "images"
    v = Verifier(cache_size=2)
    a, b = str(berlin / "berlin_01.jpg"), str(berlin / "berlin_02.jpg")
    assert v(a, b) == v.verify(a, b).inliers > 50
    assert list(v._cache) == [a, b]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    assert v(a, str(bad)) == 0


def test_mutual_ratio_matches_equal_a_plain_reference():
    """The matrix passes of _mutual_ratio_matches give exactly the matches of the textbook
    loop: mutual nearest neighbours whose best/second distance ratio is below 0.8."""
    import numpy as np

    from geomatch_app.models.verify import _mutual_ratio_matches

    rng = np.random.default_rng(3)
    a = rng.random((300, 16)).astype(np.float32)
    b = np.vstack([a[:120] + rng.normal(0, 0.02, (120, 16)), rng.random((200, 16))])
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = (b / np.linalg.norm(b, axis=1, keepdims=True)).astype(np.float32)
    d = np.maximum(2.0 - 2.0 * (a @ b.T), 0.0)
    want = []
    for i in range(len(a)):
        order = np.argsort(d[i], kind="stable")
        j = order[0]
        if np.sqrt(d[i, j]) < 0.8 * np.sqrt(d[i, order[1]]) and np.argmin(d[:, j]) == i:
            want.append((i, j))
    got = _mutual_ratio_matches(a, b, 0.8)
    assert [tuple(p) for p in got.tolist()] == want
    assert sum(i == j for i, j in want) >= 100  # the perturbed copies find their originals


def test_feature_store_serves_a_later_process_the_exact_features(tmp_path, shared_data,
                                                                  monkeypatch) -> None:
    """Features written by one Verifier are read by the next (a new `geomatch query`) without
    describing the photo again, give the same inliers, and a changed file is described anew;
    a damaged entry is a miss, not an error."""
    import os
    import shutil

    from geomatch_app.models import verify
    from geomatch_app.models.verify import FeatureStore, Verifier

    src = sorted((shared_data / "opensfm_berlin_lund" / "images").glob("*.jpg"))[:2]
    a, b = (tmp_path / "a.jpg", tmp_path / "b.jpg")
    shutil.copy(src[0], a)
    shutil.copy(src[1], b)
    store = FeatureStore(tmp_path / "feats")
    first = Verifier(store=store).verify(str(a), str(b))
    assert len(list((tmp_path / "feats").glob("*.npz"))) == 2
    calls = []
    real = verify.local_features
    monkeypatch.setattr(verify, "local_features",
                        lambda *args, **kw: calls.append(args[0]) or real(*args, **kw))
    again = Verifier(store=FeatureStore(tmp_path / "feats")).verify(str(a), str(b))
    assert calls == [] and again.inliers == first.inliers and again.matches == first.matches
    assert np.array_equal(again.query_points, first.query_points)
    os.utime(b, ns=(1, 1))  # the file changed: described again
    Verifier(store=store).verify(str(a), str(b))
    assert calls == [str(b)]
    for f in (tmp_path / "feats").glob("*.npz"):
        f.write_bytes(b"not a zip")
    calls.clear()
    assert Verifier(store=store).verify(str(a), str(b)).inliers == first.inliers
    assert sorted(calls) == sorted([str(a), str(b)])


def test_feature_store_keeps_to_its_size(tmp_path, shared_data) -> None:
    from geomatch_app.models.verify import FeatureStore, local_features

    photos = sorted((shared_data / "opensfm_berlin_lund" / "images").glob("*.jpg"))[:3]
    store = FeatureStore(tmp_path / "feats", max_bytes=1)
    for p in photos:
        store.put(str(p), 640, 200, local_features(p, 640, 200))
    store.evict()
    assert list((tmp_path / "feats").glob("*.npz")) == []
