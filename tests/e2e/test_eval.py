"""``geomatch eval`` end to end on the Berlin/Lund street sequence (real EXIF GPS ground truth).

Measured off the shelf (effnetlite2-gem, CPU): R@1 = 1.0 for the 8 queries, every estimate
within 25 m of the truth (median ≈ 6 m) and every true location inside the 90 % region.
"""

from __future__ import annotations

import csv
import json

import pytest

from geomatch_app.cli import main


@pytest.fixture(scope="module")
def berlin_lund_index(tmp_path_factory, shared_data):
    manifest = shared_data / "opensfm_berlin_lund" / "manifest.csv"
    folder = tmp_path_factory.mktemp("eval") / "idx"
    assert main(["index", str(manifest), "--index", str(folder), "--device", "cpu"]) == 0
    return manifest, folder


def test_eval_prints_recall_and_km_accuracy_and_writes_outputs(berlin_lund_index, tmp_path,
                                                                capsys):
    manifest, folder = berlin_lund_index
    capsys.readouterr()
    rc = main(["eval", "--queries", str(manifest), "--index", str(folder), "--index", str(folder),
               "--json", str(tmp_path / "m.json"), "--csv", str(tmp_path / "q.csv"),
               "--report", str(tmp_path / "r.html"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "8 by distance ≤ 25 m" in out and "R@1" in out and "≤25km" in out

    data = json.loads((tmp_path / "m.json").read_text())
    assert data["n_queries"] == 8 and len(data["runs"]) == 2
    assert set(data["recall"]) == {"1", "5", "10", "20"}
    assert set(data["accuracy_km"]) == {"1", "25", "200", "750", "2500"}
    assert data["recall"]["1"] >= 0.75 and data["recall"]["20"] == 1.0
    assert data["accuracy_km"]["1"] >= 0.75
    assert data["median_error_km"] < 0.1
    assert data["inside_90"] >= 0.75
    assert data["ground_truth"] == {"threshold_m": 25.0, "by_distance": 8, "by_place_id": 0}

    rows = list(csv.DictReader((tmp_path / "q.csv").open()))
    assert len(rows) == 16  # 8 queries × 2 indexes
    assert all(r["top_k"] and r["error_km"] for r in rows)
    page = (tmp_path / "r.html").read_text()
    assert "<svg" in page and "Recall@N" in page and "Errors" in page


def test_eval_refuses_queries_without_ground_truth(berlin_lund_index, tmp_path, capsys):
    manifest, folder = berlin_lund_index
    import shutil

    shutil.copy(manifest.parent / "images" / "lund_02.jpg", tmp_path / "lund_02.jpg")
    bad = tmp_path / "bad.csv"  # manifest paths stay inside the manifest's folder
    bad.write_text("path,place_id,lat,lon,split\nlund_02.jpg,,,,query\n")
    capsys.readouterr()
    assert main(["eval", "--queries", str(bad), "--index", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "place_id or lat/lon" in err and "Traceback" not in err
