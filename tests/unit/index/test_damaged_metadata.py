"""Damaged or hand-edited index metadata gets one line naming the folder and what to do; an
index of the first format (three files side by side) is migrated on open, with a backup."""

from __future__ import annotations

import json

import pytest
from index_helpers import fingerprint, records, state, vectors, write

from geomatch_app.cli import main
from geomatch_app.core.errors import GeomatchError
from geomatch_app.index import Index, is_index


def write_format1(folder, fp=None, recs=None, n=4):
    """An index as geomatch wrote it before generations (index.faiss, photos.json,
    fingerprint.json directly in the folder)."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    index = faiss.IndexFlatIP(8)
    index.add(vectors(7, n))
    faiss.write_index(index, str(folder / "index.faiss"))
    (folder / "photos.json").write_text(json.dumps(records(7, n) if recs is None else recs))
    (folder / "fingerprint.json").write_text(json.dumps(fingerprint() if fp is None else fp))
    return folder


def _no_weight_hash():
    fp = fingerprint()
    del fp["weight_hash"]
    return fp


def _record(**change):
    r = records(7, 4)
    r[2].update(change)
    for k, v in change.items():
        if v is KeyError:
            del r[2][k]
    return r


BAD_FORMAT1 = {
    "fingerprint as a list": ({"fp": [fingerprint()]}, "fingerprint is a list"),
    "fingerprint without weight_hash": ({"fp": _no_weight_hash()}, "no weight_hash"),
    "fingerprint dim as text": ({"fp": {**fingerprint(), "dim": "8"}}, "no valid dim"),
    "record without path": ({"recs": _record(path=KeyError)}, "record 2 has no path"),
    "lat as text": ({"recs": _record(lat="52.1")}, "non-numeric lat"),
    "lat out of range": ({"recs": _record(lat=512.0)}, "out of range"),
    "records not a list": ({"recs": {"path": "a.jpg"}}, "not a list"),
    "record count differs": ({"recs": records(7, 3)}, "inconsistent"),
    "place_id as number": ({"recs": _record(place_id=3)}, "non-text place_id"),
}


@pytest.mark.parametrize("case", list(BAD_FORMAT1))
def test_damaged_format1_metadata_is_one_line(tmp_path, case, capsys):
    kwargs, expected = BAD_FORMAT1[case]
    folder = write_format1(tmp_path / "idx", **kwargs)
    with pytest.raises(GeomatchError, match=expected) as err:
        Index.open(folder)
    msg = str(err.value)
    assert "\n" not in msg and str(folder) in msg and "--rebuild" in msg
    assert not is_index(folder) or (folder / "index.faiss").exists()  # nothing was migrated
    assert (folder / "photos.json").exists()
    # and through the CLI: the same line, exit code 1, no traceback
    assert main(["query", "whatever.jpg", "--index", str(folder)]) == 1
    err_out = capsys.readouterr().err
    assert expected in err_out and "Traceback" not in err_out


def test_damaged_manifest_fingerprint_is_one_line(tmp_path):
    folder = tmp_path / "idx"
    write(folder, seed=1)
    mf = folder / "gen-000001" / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["fingerprint"] = [manifest["fingerprint"]]
    mf.write_text(json.dumps(manifest))
    with pytest.raises(GeomatchError, match="fingerprint is a list") as err:
        Index.open(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)


def test_format1_is_migrated_on_open_with_a_backup(tmp_path):
    folder = write_format1(tmp_path / "idx")
    before = json.loads((folder / "photos.json").read_text())
    idx = Index.open(folder)
    assert idx.generation == 1 and len(idx) == 4
    assert [p.path for p in idx.photos] == [r["path"] for r in before]
    assert idx.photo(2).lat == before[2]["lat"]
    for name in ("index.faiss", "photos.json", "fingerprint.json"):
        assert not (folder / name).exists()
        assert (folder / "backup-format1" / name).is_file()
    again = state(folder)  # the migrated index opens as a generation
    assert again[0] == [r["path"] for r in before]


def test_format1_that_cannot_be_migrated_is_used_in_place(tmp_path, monkeypatch):
    """A read-only medium (simulated: the tests may run as root, who can write anyway)."""
    import geomatch_app.index.faiss_index as fi

    folder = write_format1(tmp_path / "idx")

    def read_only(folder, *a, **kw):
        raise GeomatchError("cannot write the index (read-only file system)", folder)

    monkeypatch.setattr(fi, "write_index", read_only)
    idx = Index.open(folder)
    assert len(idx) == 4 and idx.generation is None and idx.photo(0).path.endswith("0.jpg")
    assert (folder / "photos.json").exists() and not (folder / "backup-format1").exists()


def test_changed_weights_with_weight_hash_deleted_are_refused(tmp_path, tiny_model_name):
    """A fingerprint whose weight_hash was removed must not silently accept any weights."""
    from geomatch_app.index import write_index
    from geomatch_app.models import get_model

    fp = get_model(tiny_model_name).fingerprint()
    write_index(tmp_path / "idx", vectors(1, 3, fp["dim"]), records(1, 3), fp)
    assert Index.open(tmp_path / "idx").model is not None  # intact: the model loads
    mf = tmp_path / "idx" / "gen-000001" / "manifest.json"
    manifest = json.loads(mf.read_text())
    del manifest["fingerprint"]["weight_hash"]
    mf.write_text(json.dumps(manifest))
    with pytest.raises(GeomatchError, match="no weight_hash"):
        Index.open(tmp_path / "idx")
