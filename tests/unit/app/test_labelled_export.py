"""The export is a labelled test set with negatives: labels.csv carries rejected candidates and
"none of these" with provenance, --require-review filters, and `geomatch eval` reads the
manifest back (round trip against a real index)."""

from __future__ import annotations

import csv
import json

import pytest

from geomatch_app.app import curation, review
from geomatch_app.app.export import export, preview
from geomatch_app.app.project import open_project
from geomatch_app.app.ranking import rank
from geomatch_app.app.session import CandidatePick
from geomatch_app.cli import main
from geomatch_app.core.errors import GeomatchError


def _labels(folder) -> list[dict]:
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_negatives_review_and_eval_round_trip(tmp_path, berlin_index, berlin_queries, capsys):
    db = tmp_path / "c.sqlite"
    project = open_project(db, berlin_index.folder)
    store = project.store
    try:
        results = [rank(project, q.path, k=5) for q in berlin_queries[:4]]
        r0, r1, r2, r3 = results
        # photo 0: candidate 2 rejected (hard negative), then candidate 1 confirmed
        curation.decide(store, r0.path, "rejected", CandidatePick(2, r0.candidates[1].path),
                        result=r0, curator="Ann", note="other side of the square")
        assert store.query(r0.query_id).status == "open"  # a candidate reject leaves it to do
        curation.decide(store, r0.path, "confirmed", CandidatePick(1, r0.candidates[0].path),
                        result=r0, curator="Ann")
        with pytest.raises(GeomatchError, match="confirmed location"):
            curation.decide(store, r0.path, "rejected", CandidatePick(1, r0.candidates[0].path),
                            result=r0, curator="Ann")
        # photo 1, 2 confirmed at rank 1; photo 3: none of these
        for r in (r1, r2):
            curation.decide(store, r.path, "confirmed", CandidatePick(1, r.candidates[0].path),
                            result=r, curator="Ann")
        curation.decide(store, r3.path, "none", result=r3, curator="Ann", note="not Berlin")
        curation.assign(store, [r0.path, r3.path], "Ann", curator="Bob")  # provenance column
        # Bob accepts photos 0 and 1, disputes 2
        for r, verdict in ((r0, "accept"), (r1, "accept"), (r2, "dispute")):
            review.review(store, store.current_decision(r.query_id).id, verdict,
                          reviewer="Bob")

        p = preview(store, require_review=True)
        assert (p.confirmed, p.included, p.unreviewed) == (3, 2, 1)
        assert (p.rejected_candidates, p.none_of_these) == (1, 1)

        out = tmp_path / "set"
        report = export(store, out, "manifest", require_review=True,
                        place_name=lambda lat, lon: f"near {lat:.1f}, {lon:.1f}")
        assert report.written == 2
        labels = _labels(out)
        assert [row["label"] for row in labels] == ["match", "match", "not this candidate",
                                                     "none of these"]
        neg = labels[2]
        assert neg["candidate"] == r0.candidates[1].path and neg["rank"] == "2"
        assert (neg["curator"], neg["note"], neg["model"]) == (
            "Ann", "other side of the square", berlin_index.model_name)
        assert labels[0]["reviewer"] == "Bob" and labels[0]["review"] == "accept"
        lat, lon = float(labels[0]["lat"]), float(labels[0]["lon"])
        assert labels[0]["place_name"] == f"near {lat:.1f}, {lon:.1f}"
        assert labels[3]["place_name"] == ""  # none of these has no place
        assert labels[3]["file"].startswith("none/") and (out / labels[3]["file"]).is_file()
        assert labels[3]["note"] == "not Berlin"
        assert [row["assigned_to"] for row in labels] == ["Ann", "", "Ann", "Ann"]
    finally:
        project.close()

    # the export is a labelled cross-domain test set that `geomatch eval` reads back: the two
    # accepted confirmations were each the index's own top-1, so R@1 is 1
    capsys.readouterr()
    assert main(["eval", "--queries", str(out / "manifest.csv"), "--index",
                 str(berlin_index.folder), "--json", "-"]) == 0
    text = capsys.readouterr().out
    metrics = json.loads(text[text.index("{"):])
    assert metrics["n_queries"] == 2
    assert metrics["recall"]["1"] == pytest.approx(1.0)


def test_cli_export_options(tmp_path, capsys):
    from geomatch_app.store import Store

    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        q = store.add_query(tmp_path / "q.jpg")
        did = store.decide(q, "confirmed", lat=55.7, lon=13.2, curator="Ann", precision_m=12.0,
                           placed="camera")
        q2 = store.add_query(tmp_path / "r.jpg")
        store.decide(q2, "none", curator="Ann")
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "a"), "--format",
                 "geojson", "--require-review", "--no-place-names"]) == 0
    assert "exported 0 confirmations" in capsys.readouterr().out
    assert [r["label"] for r in _labels(tmp_path / "a")] == ["none of these"]
    with Store(db) as store:
        store.review(did, "accept", reviewer="Bob")
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "b"), "--format",
                 "geojson", "--require-review", "--no-negatives", "--no-place-names"]) == 0
    assert "exported 1 confirmations" in capsys.readouterr().out
    assert not (tmp_path / "b" / "labels.csv").exists()
    props = json.loads((tmp_path / "b" / "confirmed.geojson").read_text())["features"][0][
        "properties"]
    assert (props["precision_m"], props["placed"], props["place_name"]) == (12.0, "camera", "")


def test_pairs_carry_precision_placed_p_match_and_place_name(tmp_path):
    from geomatch_app.store import Store

    q_img, g_img = tmp_path / "q.jpg", tmp_path / "g.jpg"
    q_img.write_bytes(b"q")
    g_img.write_bytes(b"g")
    with Store(tmp_path / "c.sqlite") as store:
        gid = store.add_gallery("g")
        store.add_images(gid, [{"path": str(g_img), "lat": 55.7, "lon": 13.19}])
        q = store.add_query(q_img)
        store.decide(q, "confirmed", candidate_path=str(g_img), curator="Ann", p_match=0.93)
        export(store, tmp_path / "p", "pairs", negatives=False,
               place_name=lambda lat, lon: "Lund, SE")
    with (tmp_path / "p" / "pairs.csv").open(encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["p_match"], row["place_name"], row["lat"]) == ("0.93", "Lund, SE", "55.7")
