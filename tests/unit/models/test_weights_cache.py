"""Pretrained weights are read through a safetensors copy in the user cache."""

from __future__ import annotations

import torch

from geomatch_app.models import backbones


def test_weights_are_cached_as_safetensors_and_read_back_identically(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    src = tmp_path / "w.pth"
    # not in alphabetical order: MobileNetV2's file is mapped by position, so order must survive
    state = {"z.weight": torch.randn(3, 4), "b.bias": torch.arange(5.0),
             "a.count": torch.tensor(7)}
    torch.save(state, src, _use_new_zipfile_serialization=False)  # the legacy format
    first = backbones.load_weights(str(src))
    copies = list((tmp_path / "home").rglob("*.safetensors"))
    assert len(copies) == 1
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or {})
    second = backbones.load_weights(str(src))  # from the copy: torch.load is not called
    assert calls == []
    assert list(first) == list(second) == list(state)
    for k, v in state.items():
        assert torch.equal(first[k], v) and torch.equal(second[k], v)
    copies[0].write_bytes(b"damaged")  # a damaged copy falls back to the original file
    monkeypatch.undo()
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    assert torch.equal(backbones.load_weights(str(src))["b.bias"], state["b.bias"])


def test_a_read_only_cache_still_loads(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("GEOMATCH_HOME", str(home))
    src = tmp_path / "w.pth"
    torch.save({"x": torch.ones(2)}, src)
    home.chmod(0o500)
    try:
        assert torch.equal(backbones.load_weights(str(src))["x"], torch.ones(2))
    finally:
        home.chmod(0o700)


def test_a_new_version_of_the_file_replaces_its_old_copy(tmp_path, monkeypatch) -> None:
    """A reinstall gives the .pth a new mtime: its new copy replaces the old one instead of
    piling up ~25 MB per install; copies of other files stay."""
    import os

    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    src, other = tmp_path / "w.pth", tmp_path / "other.pth"
    torch.save({"x": torch.ones(2)}, src)
    torch.save({"y": torch.zeros(2)}, other)
    backbones.load_weights(str(src))
    backbones.load_weights(str(other))
    old = {p.name for p in (tmp_path / "home").rglob("w.pth-*.safetensors")}
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert torch.equal(backbones.load_weights(str(src))["x"], torch.ones(2))
    now = {p.name for p in (tmp_path / "home").rglob("w.pth-*.safetensors")}
    assert len(old) == len(now) == 1 and old != now
    assert len(list((tmp_path / "home").rglob("other.pth-*.safetensors"))) == 1
