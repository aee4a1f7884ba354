"""Calibration maths against hand-computed references, and the file's round trip with a model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geomatch_app.core.types import Candidate, Estimate, Photo
from geomatch_app.training.calibration import (
    BASE_FEATURES,
    Calibration,
    GalleryStats,
    Logistic,
    assess,
    auroc,
    candidate_features,
    ece,
    estimate_confidence,
    fit_logistic,
    gallery_stats,
    load_calibration,
    place_folds,
    refit_model_dir,
    rerank_by_p,
    unrelated_neighbour_sims,
    verdict_sort_key,
    without_place,
    write_card_section,
)


def test_auroc_and_ece_match_hand_computed_values() -> None:
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 3 of 4 → 0.75
    assert auroc([0.9, 0.4, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts half
    assert auroc([0.3, 0.2], [1, 1]) is None
    # bins [0.1,0.2): p 0.15 y 0 → |0.15−0| ; [0.9,1]: p 0.95, 0.95, y 1, 0 → |0.95−0.5|
    assert ece([0.15, 0.95, 0.95], [0, 1, 0]) == pytest.approx((0.15 + 2 * 0.45) / 3)


def test_logistic_fit_recovers_the_generating_coefficients() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 2))
    y = rng.random(20000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))
    m = fit_logistic(x, y, l2=1e-6, features=("a", "b"))
    # the fit works on standardised features: undo the scaling to compare
    coef = np.array(m.coef) / np.array(m.scale)
    assert coef == pytest.approx([2.0, -1.0], abs=0.08)
    assert float(m.predict(np.zeros((1, 2)))[0]) == pytest.approx(1 / (1 + np.exp(-0.5)),
                                                                abs=0.02)


def _stats() -> GalleryStats:
    return GalleryStats.from_values(np.linspace(0.5, 0.7, 101))


def _cands(scores, places) -> list[Candidate]:
    return [Candidate(i + 1, s, f"/g/{i}.jpg", place_id=p)
            for i, (s, p) in enumerate(zip(scores, places, strict=True))]


def test_features_use_the_next_different_place_and_the_gallery_scale() -> None:
    st = _stats()
    f = candidate_features(_cands([0.9, 0.85, 0.6], ["a", "a", "b"]), st)
    assert f.shape == (3, len(BASE_FEATURES))
    # margin: 0.9 − 0.6 (rank 2 is the same place and does not count)
    assert f[0, 1] == pytest.approx(0.3)
    assert f[2, 1] == pytest.approx(0.6 - 0.9)
    assert f[0, 2] == pytest.approx((0.9 - st.mean) / st.std)
    assert f[2, 4] == pytest.approx(np.log(0.5 / 0.5), abs=0.05)  # 0.6 is the median


def test_gallery_stats_take_the_nearest_photo_of_another_place() -> None:
    d = np.array([[1, 0], [0.99, 0.141], [0.6, 0.8], [0, 1]], np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    photos = [Photo(f"{i}.jpg", place_id=p) for i, p in enumerate("aabc")]
    photos += [Photo("x.jpg"), Photo("y.jpg"), Photo("z.jpg")]
    d = np.vstack([d, d[:3]])  # unlabelled duplicates: relation unknown, never "unrelated"
    got = unrelated_neighbour_sims(d, photos)
    sims = d[:4] @ d[:4].T
    want = [max(sims[i, j] for j in range(4) if "aabc"[j] != "aabc"[i]) for i in range(4)]
    assert got == pytest.approx(want, abs=1e-6)
    assert gallery_stats(d, photos) is None  # < 5 probes: the model's reference stands in
    st = GalleryStats.from_values(np.array(want * 2))
    assert st.mean == pytest.approx(np.mean(want)) and st.cdf(max(want) + 1) == 1.0


def test_without_place_drops_the_true_place_and_reranks() -> None:
    q = Photo("q.jpg", place_id="a")
    out = without_place(q, _cands([0.9, 0.8, 0.7], ["a", "b", "c"]))
    assert [(c.rank, c.place_id) for c in out] == [(1, "b"), (2, "c")]
    located = Photo("q.jpg", lat=50.0, lon=8.0)
    near = Candidate(1, 0.9, "n.jpg", lat=50.0001, lon=8.0)  # 11 m away
    far = Candidate(2, 0.8, "f.jpg", lat=50.01, lon=8.0)
    assert [c.path for c in without_place(located, [near, far])] == ["f.jpg"]


def _calibration(**kw) -> Calibration:
    base = Logistic(list(BASE_FEATURES), [0.0] * 5, [1.0] * 5, [0, 10.0, 0, 0, 0], 0.0)
    ver = Logistic(list(BASE_FEATURES) + ["inliers"], [0.0] * 6, [1.0] * 6,
                   [0, 10.0, 0, 0, 0, 1.0], -3.0)
    return Calibration("m", "hash", base, ver, 0.5, 0.35, _stats(), **kw)


def test_verdict_and_rerank_follow_the_probabilities() -> None:
    cal = _calibration(rerank={"default": True, "k": 3})
    cands = _cands([0.9, 0.6, 0.5], ["a", "b", "c"])
    a = assess(cands, cal, None)  # falls back to the reference statistics
    assert a.candidates[0].p_match == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-4)
    assert a.verdict == "match"
    assert cal.verdict(0.4) == "uncertain" and cal.verdict(0.2) == "no_match"
    # a close second of another place: margin 0.01 → p ≈ 0.52 → still match, barely
    assert assess(_cands([0.61, 0.6], ["a", "b"]), cal, None).verdict == "match"
    assert assess(_cands([0.6, 0.62], ["a", "b"]), cal, None).verdict in ("match", "uncertain")
    # inliers only for the top 2: those use the verified fit, rank 3 the base one
    v = assess(cands, cal, None, inliers=[0, 4000, None])
    assert v.candidates[0].p_match == pytest.approx(0.5)  # σ(10·0.3 + 0 − 3)
    assert v.candidates[1].p_match == pytest.approx(1 / (1 + np.exp(3 - np.log(4001) + 3)),
                                                    abs=1e-4)
    assert v.candidates[2].p_match == pytest.approx(a.candidates[2].p_match)
    assert [c.path for c in rerank_by_p(v.candidates, 3)][:2] == ["/g/1.jpg", "/g/0.jpg"]
    assert [c.rank for c in rerank_by_p(v.candidates, 3)] == [1, 2, 3]


def test_queue_order_puts_confident_matches_first() -> None:
    rows = [("c", None, None), ("b", "no_match", 0.1), ("a", "match", 0.7), ("d", "match", 0.9),
            ("e", "uncertain", 0.6)]
    rows.sort(key=lambda r: verdict_sort_key(r[1], r[2]))
    assert [r[0] for r in rows] == ["d", "a", "e", "b", "c"]


def test_estimate_confidence_combines_the_candidates_within_the_radius() -> None:
    est = Estimate(50.0, 8.0, 100.0, 1.0)
    inside = Candidate(1, 0.9, "a.jpg", lat=50.0005, lon=8.0, p_match=0.3)  # 56 m
    edge = Candidate(2, 0.9, "c.jpg", lat=50.0011, lon=8.0, p_match=0.5)  # 122 m ≤ 100 + 25
    outside = Candidate(3, 0.8, "b.jpg", lat=50.01, lon=8.0, p_match=0.9)  # 1.1 km
    got = estimate_confidence(est, [inside, edge, outside]).confidence
    assert got == pytest.approx(1 - 0.7 * 0.5)
    assert estimate_confidence(est, [outside]).confidence == 0.0
    raw = Candidate(1, 0.9, "a.jpg", lat=50.0, lon=8.0)
    assert estimate_confidence(est, [raw]).confidence == 1.0  # uncalibrated: unchanged


def test_place_folds_never_split_a_place() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c", "d", "e"])
    folds = place_folds(groups, n_folds=3)
    for g in set(groups):
        assert len(set(folds[groups == g])) == 1


def test_calibration_file_round_trips_with_a_finetuned_model(tmp_path, tiny_model_name,
                                                             monkeypatch):
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model

    extra = tmp_path / "models"
    monkeypatch.setenv("GEOMATCH_MODELS_PATH", str(extra))
    model = get_model(tiny_model_name)
    out = save_model(model, extra / "tuned", card="# tuned\n\ntext\n")
    loaded = get_model("tuned")
    cal = _calibration()
    cal.model, cal.weight_hash = loaded.name, loaded.weight_hash()
    cal.save(out / "calibration.json")
    back = load_calibration(loaded.fingerprint())
    assert back is not None and back.to_json() == json.loads(json.dumps(cal.to_json()))
    cands = _cands([0.9, 0.6], ["a", "b"])
    assert back.p_match(cands, None) == pytest.approx(cal.p_match(cands, None))
    # other weights under the same name: the stale file is not used
    fp = dict(loaded.fingerprint(), weight_hash="0" * 16)
    assert load_calibration(fp) is None
    # the card gets (and keeps exactly one) calibration section
    write_card_section(out / "README.md", back)
    write_card_section(out / "README.md", back)
    text = (out / "README.md").read_text()
    assert text.startswith("# tuned") and text.count("## Calibration") == 1
    assert "no_match below 0.35" in text


def test_refit_without_labelled_data_inherits_the_base_calibration(tmp_path, tiny_model_name,
                                                                   monkeypatch):
    from geomatch_app.core import paths
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model

    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path / "cards")
    base = _calibration()
    base.model = tiny_model_name
    base.save(tmp_path / "cards" / "calibration" / f"{tiny_model_name}.json")
    out = save_model(get_model(tiny_model_name), tmp_path / "ft")
    cal = refit_model_dir(out, manifests=[])
    assert cal.inherited_from == tiny_model_name
    assert (out / "calibration.json").is_file() and "Inherited from" in (
        out / "README.md").read_text()


def test_index_gallery_stats_are_cached_per_index_version(tmp_path, tiny_model_name,
                                                          shared_data, one_torch_thread):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import Index, build_index
    from geomatch_app.training.calibration import STATS_FILE, index_gallery_stats

    photos = load_photos(shared_data / "opensfm_berlin_lund" / "manifest.csv", "gallery").photos
    idx = build_index(photos, tmp_path / "idx", model_name=tiny_model_name, device="cpu")
    st = index_gallery_stats(idx)
    # the same numbers as the exact computation over the descriptors
    ref = gallery_stats(idx.descriptors(), idx.photos)
    assert st.n == ref.n and st.mean == pytest.approx(ref.mean, abs=1e-6)
    cached = json.loads((tmp_path / "idx" / STATS_FILE).read_text())
    assert cached["stats"]["mean"] == pytest.approx(st.mean, abs=1e-6)
    assert index_gallery_stats(Index.open(tmp_path / "idx")).mean == st.mean  # read back
    smaller = build_index(photos[:12], tmp_path / "idx", model_name=tiny_model_name,
                          device="cpu", rebuild=True)
    again = index_gallery_stats(smaller)  # a new index version: computed again
    assert again.key != st.key and again.n == gallery_stats(smaller.descriptors(),
                                                            smaller.photos).n


def test_gallery_probes_searched_in_batches_give_the_same_statistics(tmp_path, monkeypatch):
    """The probes are searched PROBE_BATCH at a time (faiss's lookup tables grow with the
    queries of one call): one at a time, or all at once, finds the same neighbours."""
    from geomatch_app.index import Index, write_index
    from geomatch_app.training import calibration

    rng = np.random.default_rng(6)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    recs = [{"path": f"/p/{i}.jpg", "size": 1, "mtime_ns": i, "lat": 50 + i / 100,
             "lon": 10.0, "heading": None, "place_id": f"p{i // 3}", "domain": ""}
            for i in range(300)]
    fp = {"name": "synthetic", "kwargs": {}, "weight_hash": "0" * 16,
          "preprocess": {"size": 32}, "dim": 8}
    write_index(tmp_path / "idx", x, recs, fp)
    idx = Index.open(tmp_path / "idx")
    ref, _ = calibration.index_unrelated_sims(idx, max_probes=120, k=16)
    assert len(ref) == 120
    for batch in (1, 7, 10_000):
        monkeypatch.setattr(calibration, "PROBE_BATCH", batch)
        got, _ = calibration.index_unrelated_sims(idx, max_probes=120, k=16)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)  # BLAS blocking: last bits


def test_a_failed_save_keeps_the_previous_calibration(tmp_path, monkeypatch):
    import os

    path = tmp_path / "calibration.json"
    old = _calibration()
    old.save(path)
    new = _calibration(report={"fitted_on": ["x"]})

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        new.save(path)
    monkeypatch.undo()
    assert Calibration.load(path).to_json() == json.loads(json.dumps(old.to_json()))
    path.write_text("{broken")
    with pytest.raises(Exception, match="calibration file is unreadable"):
        Calibration.load(path)


def test_an_unreadable_calibration_leaves_rankings_uncalibrated(tmp_path, tiny_model_name,
                                                                monkeypatch, caplog):
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model

    extra = tmp_path / "models"
    monkeypatch.setenv("GEOMATCH_MODELS_PATH", str(extra))
    out = save_model(get_model(tiny_model_name), extra / "tuned")
    (out / "calibration.json").write_text("not json")
    assert load_calibration(get_model("tuned").fingerprint()) is None
    assert "calibration file is unreadable" in caplog.text and "calibration.json" in caplog.text


def test_the_builtin_calibration_has_a_sequence_fit_that_round_trips(tmp_path) -> None:
    """The shipped file carries the sequence fit (benchmarks/calibrate.py --sequence); a
    sequence ranking is read by it, and a calibration without one refuses sequence scores."""
    from geomatch_app.core.errors import GeomatchError
    from geomatch_app.training.calibration import (
        Calibration,
        builtin_calibration_path,
        candidate_features,
    )

    cal = Calibration.load(builtin_calibration_path("effnetlite2-gem"))
    from geomatch_app.training.sequence import DEFAULT_HALF

    assert cal.sequence is not None and cal.report["sequence"]["half"] == DEFAULT_HALF
    back = Calibration.load(cal.save(tmp_path / "c.json"))
    cands = _cands([0.9, 0.6], ["a", "b"])
    seq = back.p_match(cands, None, sequence=True)
    want = cal.sequence.predict(candidate_features(cands, cal.reference_stats))
    assert seq == pytest.approx(want)
    assert not np.allclose(seq, back.p_match(cands, None))  # not the photo fit
    back.sequence = None
    with pytest.raises(GeomatchError, match="sequence"):
        back.p_match(cands, None, sequence=True)
