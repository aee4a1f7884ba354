"""The store's CLI on a fresh database, and export -> ``geomatch index`` + ``geomatch eval``."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from geomatch_app.cli import main
from geomatch_app.core.paths import shared_data_dir


@pytest.fixture
def fordham() -> Path:
    data = shared_data_dir()
    if data is None or not (data / "fordham_places").is_dir():
        pytest.skip("../shared/data/fordham_places is not present")
    return data / "fordham_places"


def test_cli_on_fresh_db(tmp_path, fordham, capsys):
    db = str(tmp_path / "c.sqlite")
    q = str(fordham / "images/p0_i0.jpg")
    assert main(["db", "init", db]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["confirm", "--db", db, "--query", q, "--lat", "40.8621", "--lon", "-73.8846",
                 "--heading", "90", "--curator", "Ann"]) == 0
    assert "confirmed by Ann at 40.86210, -73.88460 (map point), facing 90°" in (
        capsys.readouterr().out)
    assert main(["confirm", "--db", db, "--query", q, "--candidate",
                 str(fordham / "images/p0_i1.jpg"), "--curator", "Bob"]) == 0
    assert main(["history", "--db", db, "--query", q]) == 0
    out = capsys.readouterr().out
    assert "confirmed by Bob (candidate p0_i1.jpg), current" in out
    assert main(["undo", "--db", db]) == 0
    assert "undone:" in capsys.readouterr().out and "Bob" not in _current(db)
    assert main(["redo", "--db", db]) == 0
    assert main(["db", "check", db]) == 0
    assert main(["db", "backup", db, str(tmp_path / "b.sqlite")]) == 0
    assert main(["db", "backup", db, str(tmp_path / "b.sqlite")]) == 1  # no silent overwrite
    assert main(["db", "check", str(tmp_path / "b.sqlite")]) == 0
    with sqlite3.connect(tmp_path / "b.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM decisions WHERE deleted = 0").fetchone()[0] == 2
    assert main(["export", "--db", db, "--out", str(tmp_path / "gj"), "--format", "geojson"]) == 0
    feats = json.loads((tmp_path / "gj" / "confirmed.geojson").read_text())["features"]
    assert feats == []  # Bob's candidate is in no gallery, so it has no location to map
    assert "skipped" in capsys.readouterr().out
    assert main(["export", "--db", db, "--out", str(tmp_path / "gj"), "--format", "geojson"]) == 1
    assert "not empty" in capsys.readouterr().err


def test_confirm_errors_are_clear(tmp_path, capsys):
    db = str(tmp_path / "c.sqlite")
    assert main(["confirm", "--db", db, "--query", "x.jpg", "--lat", "1"]) == 1
    assert "--lat needs --lon" in capsys.readouterr().err
    assert main(["undo", "--db", str(tmp_path / "missing.sqlite")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_db_check_fails_on_damage(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    assert main(["db", "init", str(db)]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO decisions (query_id, status, created_at) "
                     "VALUES (7, 'skipped', 'now')")
    assert main(["db", "check", str(db)]) == 1
    assert "orphan" in capsys.readouterr().err


def _current(db: str) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT curator FROM decisions WHERE deleted = 0 "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else ""


def test_export_manifest_reads_back_through_eval(tmp_path, fordham, capsys):
    """Curate fordham queries against their gallery photos, export the manifest, index its
    gallery rows and score its query rows with ``geomatch eval``."""
    db = str(tmp_path / "c.sqlite")
    rows = list(csv.DictReader((fordham / "manifest.csv").open()))
    gallery = {r["place_id"]: r for r in rows if r["split"] == "gallery" and r["lat"]}
    queries = [r for r in rows if r["split"] == "query" and r["place_id"] in gallery][:4]
    assert len(queries) >= 2
    from geomatch_app.store import Store

    with Store(db) as store:
        gid = store.add_gallery("fordham", root=fordham, licence="GPL-3.0")
        store.add_images(gid, [{"path": str(fordham / r["path"]), "lat": float(r["lat"]),
                                "lon": float(r["lon"]), "place_id": r["place_id"]}
                               for r in gallery.values()])
    for r in queries:
        assert main(["confirm", "--db", db, "--query", str(fordham / r["path"]), "--candidate",
                     str(fordham / gallery[r["place_id"]]["path"]), "--curator", "Ann"]) == 0
    out = tmp_path / "export"
    assert main(["export", "--db", db, "--out", str(out), "--format", "manifest"]) == 0
    manifest = out / "manifest.csv"
    exported = list(csv.DictReader(manifest.open()))
    assert sum(r["split"] == "query" for r in exported) == len(queries)
    idx = tmp_path / "idx"
    if main(["index", str(manifest), "--index", str(idx), "--device", "cpu"]) != 0:
        pytest.skip("geomatch index could not build an index here (weights?)")
    capsys.readouterr()
    metrics = tmp_path / "metrics.json"
    assert main(["eval", "--queries", str(manifest), "--index", str(idx), "--json",
                 str(metrics)]) == 0
    data = json.loads(metrics.read_text())
    assert data["n_queries"] == len(queries) and data["n_skipped"] == 0
    # the exported coordinates / place ids give eval a ground truth for every query
    assert sum(data["ground_truth"].get(k, 0) for k in ("by_distance", "by_place_id")) == len(
        queries)
