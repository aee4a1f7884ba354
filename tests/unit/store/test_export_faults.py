"""Fault injection for every write step of an export (issue 17).

A previous valid export sits in the folder; the new export (with ``--force``) is failed at step
k for every k — staging folder, each folder, each file (half-written, as on a full disk), each
rename — and the folder must afterwards hold exactly the previous export, byte for byte, with
no staging or temporary file left. Without a fault it must hold exactly the new export.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from store_helpers import candidates_for, gallery_photos

from geomatch_app.store import ExportError, Store, atomic
from geomatch_app.store.export import FORMATS, export

STEPS = ("make_staging", "make_dirs", "copy_file", "write_file", "replace")


def snapshot(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = p.read_bytes()
            else:
                out[rel] = "dir"
    return out


@pytest.fixture
def curated(store: Store, fordham):
    gid = store.add_gallery("fordham")
    photos = gallery_photos(fordham)
    store.add_images(gid, photos)
    q1 = store.add_query(fordham / "images/p0_i0.jpg", title="Keating Hall")
    store.record_suggestions(q1, candidates_for(photos), model="effnetlite2-gem")
    store.decide(q1, "confirmed", candidate_path=photos[1].path, curator="Ann")
    q2 = store.add_query(fordham / "images/p1_i0.jpg")
    store.decide(q2, "confirmed", lat=40.8611, lon=-73.8855, heading=200, curator="Bob")
    return store, photos


def _second_round(store: Store, photos, fordham: Path) -> None:
    """Change what the next export writes: a new pair and a moved map point."""
    q3 = store.add_query(fordham / "images/p2_i1.jpg")
    store.decide(q3, "confirmed", candidate_path=photos[0].path, curator="Ann")
    q2 = store.find_query(fordham / "images/p1_i0.jpg")
    store.decide(q2.id, "confirmed", lat=40.8612, lon=-73.8856, curator="Bob")


class Faults:
    """Counts the write steps; raises at step ``fail_at`` (after writing half the bytes when the
    step writes a file, as a disk that fills up does)."""

    def __init__(self, monkeypatch, fail_at: int | None = None, err: int = errno.ENOSPC):
        self.n = 0
        self.fail_at = fail_at
        self.err = err
        self.log: list[str] = []
        for name in STEPS:
            monkeypatch.setattr(atomic, name, self._wrap(name, getattr(atomic, name)))

    def _wrap(self, name, real):
        def step(*args):
            self.n += 1
            self.log.append(name)
            if self.n == self.fail_at:
                if name == "copy_file":
                    data = Path(args[0]).read_bytes()
                    Path(args[1]).write_bytes(data[: len(data) // 2])
                elif name == "write_file":
                    Path(args[0]).write_bytes(args[1][: len(args[1]) // 2])
                raise OSError(self.err, os.strerror(self.err), str(args[-1]))
            return real(*args)

        return step


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_write_step_fails_cleanly(curated, fordham, tmp_path, monkeypatch, fmt):
    store, photos = curated
    out = tmp_path / "out"
    export(store, out, fmt)
    old = snapshot(out)
    _second_round(store, photos, fordham)

    with monkeypatch.context() as m:  # a clean run on a copy: the steps and the new content
        scratch = tmp_path / "scratch"
        shutil.copytree(out, scratch, symlinks=True)
        counter = Faults(m)
        export(store, scratch, fmt, force=True)
        new = snapshot(scratch)
    n_steps = counter.n
    assert new != old
    kinds = set(STEPS) - ({"copy_file"} if fmt == "geojson" else set())
    assert set(counter.log) == kinds  # every kind of step was exercised
    assert n_steps >= {"geojson": 5, "pairs": 13, "manifest": 13}[fmt]

    for k in range(1, n_steps + 1):
        with monkeypatch.context() as m:
            faults = Faults(m, fail_at=k)
            with pytest.raises(ExportError) as err:
                export(store, out, fmt, force=True)
            step = faults.log[-1]
        assert "disk is full" in str(err.value), (k, step)
        assert "earlier export" in str(err.value)
        assert snapshot(out) == old, f"step {k} ({step}) changed the previous export"
    export(store, out, fmt, force=True)
    assert snapshot(out) == new


def test_read_only_folder_is_a_message(curated, tmp_path, monkeypatch):
    store, _ = curated
    out = tmp_path / "out"
    out.mkdir()
    Faults(monkeypatch, fail_at=1, err=errno.EROFS)
    with pytest.raises(ExportError) as err:
        export(store, out, "geojson")
    assert "Read-only file system" in str(err.value) and str(out) in str(err.value)
    assert list(out.iterdir()) == []


def test_unwritable_parent_is_a_message(curated, tmp_path):
    store, _ = curated
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot be created"):
        export(store, blocker / "out", "geojson")


def test_force_keeps_previous_geojson_when_disk_fills(curated, fordham, tmp_path, monkeypatch):
    """The reported loss: --force truncated a valid confirmed.geojson, then the disk filled."""
    store, photos = curated
    out = tmp_path / "out"
    export(store, out, "geojson")
    before = (out / "confirmed.geojson").read_bytes()
    _second_round(store, photos, fordham)
    with monkeypatch.context() as m:
        faults = Faults(m)
        faults.fail_at = 10**9
        export(store, tmp_path / "count", "geojson")
        write_step = faults.log.index("write_file") + 1
    Faults(monkeypatch, fail_at=write_step)
    with pytest.raises(ExportError, match="disk is full"):
        export(store, out, "geojson", force=True)
    assert (out / "confirmed.geojson").read_bytes() == before


@pytest.mark.parametrize("planted,inside", [
    ("reference/00001_p0_i0.jpg", False), ("pairs.csv", False), ("reference/00001_p0_i0.jpg", True),
    ("reference", True),
])
def test_planted_link_refused_before_any_copy(curated, tmp_path, monkeypatch, planted, inside):
    """The reported order: query images were copied, then the link was refused. Now every
    target is checked first; a link pointing inside the folder is refused too."""
    store, _ = curated
    out = tmp_path / "out"
    (out / "reference").mkdir(parents=True)
    victim = (out / "elsewhere") if inside else (tmp_path / "victim")
    victim.mkdir()
    if planted == "reference":
        (out / "reference").rmdir()
    (out / planted).symlink_to(victim if planted == "reference" else victim / "x")
    before = snapshot(out)
    faults = Faults(monkeypatch)
    with pytest.raises(ExportError, match="is a link|outside the export folder"):
        export(store, out, "pairs", force=True)
    assert faults.log == []  # refused before the first write of any kind
    assert snapshot(out) == before and list(victim.iterdir()) == []


def test_stale_staging_of_a_dead_export_is_removed(curated, tmp_path):
    store, _ = curated
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{atomic.STAGING_PREFIX}999999999-abc"
    (stale / "new").mkdir(parents=True)
    (stale / "new" / "confirmed.geojson").write_text("half")
    export(store, out, "geojson")  # a stale staging folder alone does not make it "not empty"
    assert sorted(p.name for p in out.iterdir()) == ["confirmed.geojson"]


def test_missing_source_photo_at_copy_time_names_it(curated, fordham, tmp_path, monkeypatch):
    store, photos = curated
    gone = photos[1].path

    real = atomic.copy_file

    def vanish(src, dest):
        if str(src) == gone:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(src))
        return real(src, dest)

    monkeypatch.setattr(atomic, "copy_file", vanish)
    with pytest.raises(ExportError) as err:
        export(store, tmp_path / "out", "pairs")
    assert gone in str(err.value) and "file not found" in str(err.value)
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_cancel_while_writing_leaves_the_folder_as_it_was(curated, fordham, tmp_path):
    from geomatch_app.core.progress import Cancelled, Progress

    store, photos = curated
    out = tmp_path / "out"
    export(store, out, "pairs")
    old = snapshot(out)
    _second_round(store, photos, fordham)
    seen: list[str] = []
    progress = Progress(report=lambda done, total, msg: seen.append(msg),
                        cancelled=lambda: any(m.startswith("writing") for m in seen[:-1]))
    with pytest.raises(Cancelled):
        export(store, out, "pairs", force=True, progress=progress)
    assert any(m.startswith("writing") for m in seen)
    assert snapshot(out) == old
