"""Atomic index generations: a failed write at any step leaves the old index, never a mix;
a damaged generation falls back to the previous one; no *.tmp is left behind."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil

import pytest
from index_helpers import leftovers, same, state, write

from geomatch_app.core.errors import GeomatchError
from geomatch_app.index import Index, generations, is_index


class Faults:
    """Counts os.fsync / os.replace / os.rename calls and raises OSError(EIO) at call ``fail_at``
    (1-based); ``None`` only counts. Every file the writer makes is fsynced after it is written,
    so failing call N stops the writer between write N-1 and N, or just before a rename."""

    def __init__(self, monkeypatch, fail_at: int | None):
        self.calls: list[str] = []
        self.fail_at = fail_at
        for name in ("fsync", "replace", "rename"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def call(*args, **kw):
            self.calls.append(name)
            if len(self.calls) == self.fail_at:
                raise OSError(errno.EIO, f"injected fault at {name} #{self.fail_at}")
            return real(*args, **kw)

        return call


def _steps(tmp_path, monkeypatch) -> list[str]:
    folder = tmp_path / "count"
    write(folder, seed=1)
    with monkeypatch.context() as m:
        faults = Faults(m, None)
        write(folder, seed=2)
    return faults.calls


def test_a_fault_at_every_step_leaves_the_old_or_the_new_index(tmp_path, monkeypatch):
    steps = _steps(tmp_path, monkeypatch)
    assert steps.count("replace") >= 2 and steps.count("fsync") >= 4
    fresh = tmp_path / "fresh"
    write(fresh, seed=1)
    old = state(fresh)
    write(fresh, seed=2)
    new = state(fresh)
    assert not same(old, new) and len(old[0]) == len(new[0])  # the dangerous case: same count
    outcomes = []
    for n in range(1, len(steps) + 1):
        folder = tmp_path / f"f{n}"
        write(folder, seed=1)
        with monkeypatch.context() as m:
            Faults(m, n)
            try:
                write(folder, seed=2)
                failed = False
            except GeomatchError as exc:
                failed = True
                assert "\n" not in str(exc) and str(folder) in str(exc)
        seen = state(folder)
        assert same(seen, old) or same(seen, new), f"mixed index after a fault at step {n}"
        if failed:
            assert same(seen, old), f"the write failed at step {n} but the index changed"
        assert leftovers(folder) == [], f"step {n} left {leftovers(folder)}"
        outcomes.append("old" if same(seen, old) else "new")
        write(folder, seed=3)  # and the next write works
        assert state(folder)[0][0].startswith("/photos/set3/")
    assert "old" in outcomes and "new" in outcomes  # faults both before and after the switch


def test_first_write_failing_leaves_no_index_and_no_litter(tmp_path, monkeypatch):
    steps = _steps(tmp_path, monkeypatch)
    for n in range(1, len(steps) + 1):
        folder = tmp_path / f"first{n}"
        with monkeypatch.context() as m:
            Faults(m, n)
            try:
                write(folder, seed=2)
            except GeomatchError:
                assert not is_index(folder), f"a failed first write at step {n} left an index"
        assert leftovers(folder) == []
        if is_index(folder):
            assert state(folder)[0][0].startswith("/photos/set2/")


def test_two_generations_are_kept(tmp_path):
    folder = tmp_path / "idx"
    for seed in (1, 2, 3, 4):
        write(folder, seed=seed)
    assert generations.generations(folder) == [4, 3]
    assert (folder / "CURRENT").read_text().strip() == "gen-000004"


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_damaged_generation_falls_back_to_the_previous(tmp_path, caplog, damage):
    folder = tmp_path / "idx"
    write(folder, seed=1)
    old = state(folder)
    write(folder, seed=2)
    gen = folder / "gen-000002"
    victim = gen / "photos.sqlite"
    if damage == "flip":
        _flip_byte(victim)
    elif damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:-10])
    elif damage == "delete":
        victim.unlink()
    else:
        (gen / "manifest.json").write_text("{")
    with caplog.at_level(logging.WARNING):
        seen = state(folder)
    assert same(seen, old)
    assert "gen-000002" in caplog.text and "using gen-000001" in caplog.text


def test_quick_check_catches_a_flipped_sampled_block_and_full_check_any_byte(tmp_path):
    folder = tmp_path / "idx"
    write(folder, seed=1)
    write(folder, seed=2)
    photos = folder / "gen-000002" / "photos.sqlite"
    data = bytearray(photos.read_bytes())
    data[1] ^= 0x01  # inside the first sampled block
    photos.write_bytes(bytes(data))
    gen = generations.read_generation(folder, 2)
    with pytest.raises(generations.DamagedGenerationError, match="checksum"):
        generations.verify(gen, "quick")
    with pytest.raises(generations.DamagedGenerationError, match="photos.sqlite"):
        generations.verify(gen, "full")


def test_no_intact_generation_is_one_line_naming_the_folder(tmp_path):
    folder = tmp_path / "idx"
    write(folder, seed=1)
    write(folder, seed=2)
    for f in folder.glob("gen-*/vectors.npy"):
        _flip_byte(f)
    with pytest.raises(GeomatchError) as err:
        Index.open(folder)
    msg = str(err.value)
    assert "\n" not in msg and str(folder) in msg and "--rebuild" in msg


def test_uncommitted_newer_generation_is_ignored_and_removed(tmp_path):
    """A writer killed after renaming its folder but before switching CURRENT."""
    folder = tmp_path / "idx"
    write(folder, seed=1)
    old = state(folder)
    write(tmp_path / "other", seed=2)
    shutil.copytree(tmp_path / "other" / "gen-000001", folder / "gen-000002")
    (folder / "gen-000003.tmp").mkdir()
    (folder / "CURRENT.tmp").write_text("gen-000002\n")
    assert same(state(folder), old)  # opening (no writer running) also removes the litter
    assert generations.generations(folder) == [1] and leftovers(folder) == []


def test_a_second_writer_waits_for_the_lock(tmp_path):
    import fcntl

    folder = tmp_path / "idx"
    write(folder, seed=1)
    with (folder / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with generations.writer_lock(folder, blocking=False) as got:
            assert got is False
        # an opener that cannot take the lock leaves a running writer's tmp files alone
        (folder / "gen-000002.tmp").mkdir()
        state(folder)
        assert (folder / "gen-000002.tmp").is_dir()
    state(folder)
    assert not (folder / "gen-000002.tmp").exists()


def test_manifest_names_files_with_checksums(tmp_path):
    folder = tmp_path / "idx"
    write(folder, seed=1)
    manifest = json.loads((folder / "gen-000001" / "manifest.json").read_text())
    assert manifest["count"] == 5 and manifest["fingerprint"]["name"] == "synthetic"
    for name, info in manifest["files"].items():
        path = folder / "gen-000001" / name
        assert info["size"] == path.stat().st_size
        assert info["sha256"] == generations.file_digest(path)
