"""Sequence matching (training.sequence): the diagonal mean by hand, the shortlist fill, the
ends of a recording, neighbouring files, and a corridor frame ranked through the app."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geomatch_app.training.sequence import (
    GalleryOrder,
    combine,
    exact_search,
    neighbour_files,
    query_offsets,
    sequence_search,
    without_rows,
)

N = 25  # detect_sequences needs >= 20 frames
ORDER = GalleryOrder.from_place_ids([f"g_{i:03d}" for i in range(N)])


def test_gallery_order_from_frame_ids_and_none_for_photo_ids() -> None:
    assert ORDER.usable and list(ORDER.keys[:3]) == [0, 1, 2]
    photos = GalleryOrder.from_place_ids(["a", "b", "c"])
    assert not photos.usable and (photos.keys == -1).all()
    step10 = GalleryOrder.from_place_ids([f"n_{10 * i:05d}" for i in range(N)])
    assert list(step10.keys[:3]) == [0, 1, 2]  # frame index = number // step


def test_combine_is_the_diagonal_mean_by_hand() -> None:
    # frame -1 sees g_4 (0.5) and g_9 (0.2); frame 0 sees g_5 (0.9), g_9 (0.3);
    # frame +1 sees g_6 (0.7), g_9 (0.1)
    hits = {-1: (np.array([4, 9]), np.array([0.5, 0.2])),
            0: (np.array([5, 9]), np.array([0.9, 0.3])),
            1: (np.array([6, 9]), np.array([0.7, 0.1]))}
    ids, scores, n = combine(hits, ORDER, k=3)
    assert n == 3
    assert ids[0] == 5 and scores[0] == pytest.approx((0.5 + 0.9 + 0.7) / 3)
    # centre 9: frame 0 sees 9 (0.3); frame -1 needs g_8 (missing: its lowest 0.2);
    # frame +1 needs g_10 (missing: its lowest 0.1)
    got = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    assert got[9] == pytest.approx((0.2 + 0.3 + 0.1) / 3)


def test_combine_leaves_out_frames_beyond_the_end_of_the_gallery() -> None:
    hits = {0: (np.array([0]), np.array([0.8])), -1: (np.array([3]), np.array([0.4]))}
    ids, scores, _n = combine(hits, ORDER, k=1)
    # centre 0: frame -1 would need g_-1, which does not exist: the mean has one term
    assert ids[0] == 0 and scores[0] == pytest.approx(0.8)


def test_sparse_search_equals_the_dense_diagonal_with_a_full_shortlist() -> None:
    rng = np.random.default_rng(0)
    g = rng.normal(size=(N, 8)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = {o: g[12 + o] + 0.3 * rng.normal(size=8).astype(np.float32) for o in (-2, -1, 0, 1, 2)}
    ids, scores, n = sequence_search(exact_search(g), q, ORDER, k=N, shortlist=N)
    dense = {}
    for c in range(N):
        terms = [float(q[o] @ g[c + o]) for o in q if 0 <= c + o < N]
        dense[c] = np.mean(terms)
    assert n == 5 and ids[0] == 12
    for i, s in zip(ids, scores, strict=True):
        assert s == pytest.approx(dense[int(i)], abs=1e-5)


def test_exact_rescoring_gives_the_dense_diagonal_whatever_the_shortlist() -> None:
    rng = np.random.default_rng(1)
    g = rng.normal(size=(N, 8)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = {o: g[3 + o] + 0.3 * rng.normal(size=8).astype(np.float32) for o in (-3, 0, 2)}
    ids, scores, _n = sequence_search(exact_search(g), q, ORDER, k=6, shortlist=2,
                                      vectors=lambda rows: g[rows])
    for i, s in zip(ids, scores, strict=True):
        want = np.mean([float(q[o] @ g[i + o]) for o in q if 0 <= i + o < N])
        assert s == pytest.approx(want, abs=1e-5)
    filled = sequence_search(exact_search(g), q, ORDER, k=6, shortlist=2)
    assert filled[0].tolist() == ids.tolist()  # same order: only the scores are exact
    assert not np.allclose(filled[1], scores)


def test_removed_rows_never_take_part() -> None:
    g = np.eye(N, dtype=np.float32)
    gone = np.zeros(N, bool)
    gone[10:13] = True
    q = {o: g[11 + o] for o in (-1, 0, 1)}
    ids, _s, _n = sequence_search(exact_search(g, gone), q, without_rows(ORDER, gone), k=N)
    assert not set(ids.tolist()) & {10, 11, 12}


def test_neighbour_files_of_a_numbered_folder(tmp_path) -> None:
    for i in range(0, 100, 10):
        (tmp_path / f"frame_{i:04d}.jpg").write_bytes(b"x")
    (tmp_path / "other_0020.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    got = neighbour_files(tmp_path / "frame_0030.jpg", half=2)
    assert [o for o, _f in got] == [-2, -1, 0, 1, 2]
    assert got[0][1].endswith("frame_0010.jpg") and got[4][1].endswith("frame_0050.jpg")
    assert [o for o, _ in neighbour_files(tmp_path / "frame_0000.jpg", half=2)] == [0, 1, 2]
    assert neighbour_files(tmp_path / "other_0020.jpg") == []  # alone: not a recording
    assert neighbour_files(tmp_path / "notes.txt") == []


def test_query_offsets_follow_the_query_sequence() -> None:
    ids = [f"q_{10 * i:05d}" for i in range(N)] + ["photo"]
    offs = query_offsets(ids, half=2)
    assert offs[0] == {0: 0, 1: 1, 2: 2} and offs[5] == {-2: 3, -1: 4, 0: 5, 1: 6, 2: 7}
    assert offs[-1] == {}


@pytest.fixture(scope="module")
def corridor(shared_data, tmp_path_factory):
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.index import build_index

    root = shared_data / "corridor_vprbench"
    folder = tmp_path_factory.mktemp("corridor") / "index"
    build_index(load_photos(root / "manifest.csv", role="gallery").photos, folder)
    return folder, load_photos(root / "manifest.csv", role="query").photos


@pytest.mark.usefixtures("one_torch_thread")
def test_a_corridor_frame_is_found_with_its_neighbours(tmp_path, corridor, capsys) -> None:
    """corridor_040 alone ranks corridor_089 first (the default model, measured); with its
    neighbouring frames the top-1 is within the ±2-frame ground truth and the verdict match."""
    from geomatch_app.app.project import open_project
    from geomatch_app.app.ranking import rank
    from geomatch_app.cli import main

    folder, queries = corridor
    q = next(p for p in queries if p.place_id == "corridor_040")
    project = open_project(tmp_path / "c.sqlite", folder, remember=False)
    try:
        alone = rank(project, q.path, sequence=False, verify=False)
        seq = rank(project, q.path)
    finally:
        project.close()
    num = int(seq.candidates[0].place_id.split("_")[1])
    assert alone.sequence_frames == 0 and seq.sequence_frames == 81
    assert abs(num - 40) <= 2 and alone.candidates[0].place_id != seq.candidates[0].place_id
    assert seq.verdict == "match" and not seq.pending
    assert main(["query", q.path, "--index", str(folder), "--json", "--sequence", "off",
                 "--no-verify"]) == 0
    assert json.loads(capsys.readouterr().out)["sequence_frames"] == 0
    assert main(["query", q.path, "--index", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sequence_frames"] == 81 and out["verdict"] == "match"


def test_spacing_keeps_one_candidate_per_stretch_of_the_route() -> None:
    hits = {0: (np.array([5, 6, 7, 14, 20]), np.array([0.9, 0.85, 0.8, 0.6, 0.5]))}
    ids, _s, _n = combine(hits, ORDER, k=5)
    assert ids.tolist() == [5, 6, 7, 14, 20]
    ids, scores, _n = combine(hits, ORDER, k=5, spacing=5)
    assert ids.tolist() == [5, 14, 20] and scores.tolist() == [0.9, 0.6, 0.5]


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_with_sequence_matching_on_the_corridor(shared_data, corridor, tmp_path) -> None:
    """geomatch eval --sequence: the corridor's exact-frame R@5 (0.43 ranked alone, measured)
    and its calibration figures with the sequence fit (README table)."""
    from geomatch_app.cli import main

    folder, _queries = corridor
    manifest = shared_data / "corridor_vprbench" / "manifest.csv"
    runs = {}
    for flag in ([], ["--sequence"]):
        out = tmp_path / f"eval{len(flag)}.json"
        assert main(["eval", "--queries", str(manifest), "--index", str(folder), "--no-verify",
                     "--json", str(out), *flag]) == 0
        runs[bool(flag)] = json.loads(out.read_text())
    assert runs[False]["recall"]["5"] < 0.6 and runs[True]["recall"]["5"] > 0.95
    cal = runs[True]["calibration"]
    # every top-1 is within the ±2-frame ground truth, so no AUROC; measured 0.045 / 1.0 / 0.97
    assert cal["auroc"] is None and cal["ece"] < 0.1
    assert cal["open_set"]["removed_flagged_no_match"] > 0.9
    assert cal["open_set"]["correct_kept_match"] > 0.9


def test_frames_described_once_are_taken_from_memory(corridor, monkeypatch) -> None:
    """Ranking the next frame of a film embeds only the frame that entered the window."""
    from geomatch_app.index import Index
    from geomatch_app.training import sequence

    folder, queries = corridor
    index = Index.open(folder)
    sequence._DESCS.clear()
    calls = []
    real = index.embed_paths
    monkeypatch.setattr(index, "embed_paths",
                        lambda paths, **kw: calls.append(len(paths)) or real(paths, **kw))
    by_id = {q.place_id: q.path for q in queries}
    first = sequence.rank_frames(index, by_id["corridor_040"], k=5)
    again = sequence.rank_frames(index, by_id["corridor_041"], k=5)
    assert calls == [81, 1] and first.frames == again.frames == 81
    fresh = Index.open(folder)  # same model, nothing cached on the object: same answer
    sequence._DESCS.clear()
    assert [c.path for c in sequence.rank_frames(fresh, by_id["corridor_041"], k=5).candidates] \
        == [c.path for c in again.candidates]


@pytest.mark.usefixtures("one_torch_thread")
def test_numbered_unrelated_photos_are_ranked_alone(corridor, tmp_path) -> None:
    """IMG_0001.jpg … of unrelated scans are not a recording: ranked one by one."""
    import shutil

    from geomatch_app.core.paths import demo_dir
    from geomatch_app.index import Index
    from geomatch_app.training.sequence import rank_frames

    folder, _queries = corridor
    photos = sorted((demo_dir() / "images").rglob("*.jpg"))[::7][:6]
    for i, src in enumerate(photos):
        shutil.copy(src, tmp_path / f"IMG_{i + 1:04d}.jpg")
    assert rank_frames(Index.open(folder), str(tmp_path / "IMG_0003.jpg"), k=5) is None
