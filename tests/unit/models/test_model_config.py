"""Tampered fine-tuned model folders and mistyped model names (issue 17): each is a one-line
message naming the file, and one broken folder never breaks `geomatch models`."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from geomatch_app.cli import main  # noqa: E402
from geomatch_app.core.errors import GeomatchError  # noqa: E402
from geomatch_app.models import get_model, list_models  # noqa: E402
from geomatch_app.models.catalog import model_info  # noqa: E402
from geomatch_app.models.checkpoint import ModelDirError, load_model, save_model  # noqa: E402
from geomatch_app.models.registry import UnknownModelError  # noqa: E402


@pytest.fixture
def models_dir(tmp_path, monkeypatch, tiny_model_name):
    folder = tmp_path / "models"
    monkeypatch.setenv("GEOMATCH_MODELS_PATH", str(folder))
    for name in ("good-ft", "broken-ft"):
        save_model(get_model(tiny_model_name, pretrained=False), folder / name)
    return folder


def _tamper(config_path, change):
    cfg = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(change(cfg)))


TAMPERED = {
    "array": (lambda cfg: [cfg], "JSON list, not an object"),
    "version abc": (lambda cfg: {**cfg, "version": "abc"}, "version 'abc'"),
    "version newer": (lambda cfg: {**cfg, "version": 99}, "update geomatch"),
    "version bool": (lambda cfg: {**cfg, "version": True}, "version True"),
    "size 0": (lambda cfg: {**cfg, "preprocess": {**cfg["preprocess"], "size": 0}},
               "size 0"),
    "size text": (lambda cfg: {**cfg, "preprocess": {**cfg["preprocess"], "size": "32"}},
                  "size '32'"),
    "std 0": (lambda cfg: {**cfg, "preprocess": {**cfg["preprocess"], "std": [0, 0, 0]}},
              "must be positive"),
    "std short": (lambda cfg: {**cfg, "preprocess": {**cfg["preprocess"], "std": [0.5]}},
                  "not three numbers"),
    "mean nan": (lambda cfg: {**cfg, "preprocess": {**cfg["preprocess"],
                                                     "mean": [0.5, "NaN", 0.5]}},
                 "not three numbers"),
    "dim -1": (lambda cfg: {**cfg, "dim": -1}, "dim -1"),
    "base_kwargs list": (lambda cfg: {**cfg, "base_kwargs": [1]}, "base_kwargs"),
    "base_kwargs unknown": (lambda cfg: {**cfg, "base_kwargs": {"colour": "red"}},
                            "do not fit"),
    "base_model number": (lambda cfg: {**cfg, "base_model": 7}, "no base_model"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_config_is_a_message(models_dir, case):
    change, words = TAMPERED[case]
    config = models_dir / "broken-ft" / "config.json"
    _tamper(config, change)
    with pytest.raises(ModelDirError) as err:
        load_model(models_dir / "broken-ft")
    assert words in str(err.value) and "config.json" in str(err.value)
    with pytest.raises(GeomatchError):
        get_model("broken-ft")


@pytest.mark.parametrize("case", ["array", "std 0", "version abc"])
def test_one_broken_folder_does_not_break_the_listing(models_dir, case, capsys):
    _tamper(models_dir / "broken-ft" / "config.json", TAMPERED[case][0])
    assert {"good-ft", "broken-ft"} <= set(list_models())
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "config.json" in rows["broken-ft"]["error"]
    assert rows["good-ft"]["dim"] == 32 and "error" not in rows["good-ft"]
    assert rows["effnetlite2-gem"]["dim"] == 1280
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "broken-ft" in table and "unusable:" in table and "good-ft" in table


def test_unreadable_config_json_in_listing(models_dir, capsys):
    (models_dir / "broken-ft" / "config.json").write_text("{not json")
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "unreadable" in rows["broken-ft"]["error"]


def test_unknown_model_name_is_a_message_and_still_a_key_error():
    with pytest.raises(UnknownModelError) as err:
        model_info("effnetlite2-gen")
    assert isinstance(err.value, KeyError) and isinstance(err.value, GeomatchError)
    assert str(err.value).startswith("unknown model 'effnetlite2-gen'")
    assert "geomatch models" in str(err.value)
    with pytest.raises(UnknownModelError):
        get_model("effnetlite2-gen")


def test_failed_save_leaves_no_tmp_file(tmp_path, tiny_model_name, monkeypatch):
    """A full disk while saving: the error surfaces, no ``*.tmp`` is left in the folder."""
    import errno
    import os

    model = get_model(tiny_model_name, pretrained=False)
    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith("config.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError):
        save_model(model, tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.tmp"))
