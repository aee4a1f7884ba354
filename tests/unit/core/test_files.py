"""core.files: a replaced file is its old contents or its new ones, never half, and no
temporary file is left behind — also when the writer or the disk fails."""

from __future__ import annotations

import errno
import threading

import pytest

from geomatch_app.core import files


def _debris(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_write_text_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "settings.json"
    target.write_text("old", encoding="utf-8")
    assert files.write_text(target, "new ✓") == target
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert _debris(tmp_path) == []


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "card.md"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="writer broke"):
        with files.replacing(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("writer broke")
    assert target.read_text(encoding="utf-8") == "old"
    assert _debris(tmp_path) == []


def test_a_full_disk_at_the_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "table.bin"
    target.write_bytes(b"old")
    calls = []

    def full(fd):
        calls.append(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        with files.replacing(target, durable=True) as tmp:
            tmp.write_bytes(b"new")
    assert calls and target.read_bytes() == b"old"
    assert _debris(tmp_path) == []


def test_durable_fsyncs_the_new_file_before_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    steps = []
    real_fsync, real_replace = files.os.fsync, files.os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (steps.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(files.os, "replace",
                        lambda a, b: (steps.append("replace"), real_replace(a, b)))
    files.write_text(target, "{}", durable=True)
    files.write_text(target, "{}")
    assert steps == ["fsync", "replace", "replace"]  # a cache file skips the fsync


def test_temporary_names_are_unique_per_thread_and_keep_a_suffix(tmp_path):
    target = tmp_path / "maps.npy"
    names = []
    t = threading.Thread(target=lambda: names.append(files.temporary_name(target, ".npy")))
    t.start()
    t.join()
    here = files.temporary_name(target, ".npy")
    assert names[0] != here and here.parent == tmp_path
    assert here.name.startswith("maps.npy.") and here.name.endswith(".tmp.npy")
