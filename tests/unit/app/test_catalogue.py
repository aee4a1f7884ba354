"""Catalogue import: CSV and IIIF records become queries with their fields."""

from __future__ import annotations

import json

import pytest

from geomatch_app.app.catalogue import import_catalogue, read_catalogue
from geomatch_app.cli import main
from geomatch_app.core.errors import ManifestError
from geomatch_app.store import Store


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "archive"
    (folder / "scans").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / "scans" / name).write_bytes(b"\xff\xd8" + name.encode())
    return folder


def test_csv_records_become_queries_with_fields(tmp_path, scans):
    cat = scans / "catalogue.csv"
    cat.write_text(
        "File,Title,Identifier,Date From,Date To,Place,Latitude,Longitude\n"
        "scans/a.jpg,Market square,AR-1,1920,1925,\"Lund, Stortorget\",55.7047,13.1910\n"
        "scans/b.jpg,Harbour,AR-2,,,Malmö,,\n"
        "scans/missing.jpg,Gone,AR-3,,,,,\n"
        "scans/c.jpg,Bad,AR-4,,,,95,13\n", encoding="utf-8")
    report = read_catalogue(cat)
    assert [r.archive_id for r in report.records] == ["AR-1", "AR-2"]
    assert [w for w, _ in report.skipped] == ["scans/missing.jpg", "scans/c.jpg"]
    assert "not a WGS84 position" in report.skipped[1][1]
    with Store(tmp_path / "c.sqlite") as store:
        report = import_catalogue(store, cat, curator="Ann")
        q = store.query(report.query_ids[0])
        assert (q.title, q.archive_id, q.place_text) == ("Market square", "AR-1",
                                                         "Lund, Stortorget")
        assert (q.lat, q.lon) == (55.7047, 13.1910)
        assert (q.date_from, q.date_to) == ("1920-01-01", "1925-12-31")
        assert q.path == str((scans / "scans" / "a.jpg").resolve())
        b = store.query(report.query_ids[1])
        assert b.lat is None and b.place_text == "Malmö"
        # importing again keeps what a curator edited and fills what was empty
        store.update_query(b.id, title="Harbour, edited", curator="Ann")
        cat.write_text("file,title,lat,lon\nscans/b.jpg,Harbour,55.6,13.0\n", encoding="utf-8")
        again = import_catalogue(store, cat)
        assert again.query_ids == [b.id]
        b = store.query(b.id)
        assert (b.title, b.lat, b.lon) == ("Harbour, edited", 55.6, 13.0)
        assert len(store.queries()) == 2


def test_csv_without_file_column_is_one_message(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("title,date\nx,1923\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="no file column"):
        read_catalogue(cat)


def test_iiif_v3_and_v2_manifests(tmp_path, scans):
    v3 = {"type": "Manifest", "items": [
        {"type": "Canvas", "label": {"en": ["Town hall"]},
         "metadata": [{"label": {"en": ["Date"]}, "value": {"none": ["c. 1910"]}},
                      {"label": {"en": ["Place"]}, "value": {"en": ["Lund"]}},
                      {"label": {"en": ["Identifier"]}, "value": {"none": ["K-7"]}}],
         "items": [{"type": "AnnotationPage", "items": [
             {"type": "Annotation", "body": {"id": "scans/a.jpg", "type": "Image"}}]}]},
        {"type": "Canvas", "label": {"en": ["Online only"]}, "items": [{"items": [
            {"body": {"id": "https://example.org/iiif/x/full/max/0/default.jpg"}}]}]}]}
    (scans / "v3.json").write_text(json.dumps(v3), encoding="utf-8")
    r3 = read_catalogue(scans / "v3.json")
    assert [(r.title, r.date, r.place_text, r.archive_id) for r in r3.records] == [
        ("Town hall", "c. 1910", "Lund", "K-7")]
    assert "file not found" in r3.skipped[0][1]  # a web image is never downloaded
    v2 = {"@type": "sc:Manifest", "sequences": [{"canvases": [
        {"label": "Bridge", "metadata": [{"label": "date", "value": "1933"}],
         "images": [{"resource": {"@id": (scans / "scans" / "b.jpg").as_uri()}}]}]}]}
    (scans / "v2.json").write_text(json.dumps(v2), encoding="utf-8")
    r2 = read_catalogue(scans / "v2.json")
    assert [(r.title, r.date) for r in r2.records] == [("Bridge", "1933")]


def test_cli_catalogue_import(tmp_path, scans, capsys):
    cat = scans / "cat.csv"
    cat.write_text("path,title\nscans/a.jpg,A\nscans/c.jpg,C\n", encoding="utf-8")
    db = tmp_path / "c.sqlite"
    assert main(["catalogue", str(cat), "--db", str(db)]) == 0
    assert "2 catalogue records" in capsys.readouterr().out
    with Store(db) as store:
        assert sorted(q.title for q in store.queries()) == ["A", "C"]
