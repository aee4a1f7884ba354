"""Fine-tuned model folders: identical descriptors after a round trip, listed by the registry,
never unpickled, and clear errors for damaged folders."""

from __future__ import annotations

import json

import pytest
import torch

from geomatch_app.core.errors import GeomatchError
from geomatch_app.models import get_model, list_models, model_info
from geomatch_app.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model


def _perturbed(name):
    m = get_model(name)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return m.eval()


def test_round_trip_gives_identical_descriptors(tmp_path, tiny_model_name):
    model = _perturbed(tiny_model_name)
    out = save_model(model, tmp_path / "ft", card="# card", events=[{"step": 1}])
    loaded = load_model(out)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.weight_hash() == model.weight_hash()
    cfg = json.loads((out / CONFIG_FILE).read_text())
    assert cfg["base_model"] == tiny_model_name and cfg["weight_hash"] == model.weight_hash()
    assert (out / "README.md").read_text() == "# card"
    assert (out / "training_log.jsonl").read_text().strip() == '{"step": 1}'
    # safetensors, not a pickle: the file starts with an 8-byte header length and JSON
    raw = (out / WEIGHTS_FILE).read_bytes()
    assert raw[8:9] == b"{" and b"pickle" not in raw[:200]


def test_registry_lists_and_loads_finetuned(tmp_path, tiny_model_name, monkeypatch):
    extra = tmp_path / "more-models"
    monkeypatch.setenv("GEOMATCH_MODELS_PATH", str(extra))
    model = _perturbed(tiny_model_name)
    save_model(model, extra / "my-tuned")
    assert "my-tuned" in list_models()
    assert list_models().index("my-tuned") > list_models().index(tiny_model_name)
    info = model_info("my-tuned")
    assert tiny_model_name in info.source
    by_name = get_model("my-tuned", pretrained=False)
    assert by_name.name == "my-tuned" and by_name.weight_hash() == model.weight_hash()
    # an index stores the fingerprint; the index module rebuilds the model from it
    from geomatch_app.index.faiss_index import load_model_for

    assert load_model_for(by_name.fingerprint()).weight_hash() == model.weight_hash()
    # a folder outside the search path loads by path and keeps its path as name
    other = save_model(model, tmp_path / "elsewhere")
    by_path = get_model(str(other))
    assert by_path.name == str(other.resolve())


def test_damaged_folders_raise_clear_errors(tmp_path, tiny_model_name):
    model = _perturbed(tiny_model_name)
    out = save_model(model, tmp_path / "ft")
    cfg = json.loads((out / CONFIG_FILE).read_text())
    cfg["weight_hash"] = "0" * 16
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(GeomatchError, match="hash"):
        load_model(out)
    del cfg["weight_hash"]  # weights changed and the hash deleted: refused, not accepted
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(GeomatchError, match="no weight_hash"):
        load_model(out)
    cfg["weight_hash"] = "0" * 16
    cfg["base_model"] = "no-such-model"
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(GeomatchError, match="no-such-model"):
        load_model(out)
    (out / WEIGHTS_FILE).write_bytes(b"\x80\x04garbage")  # a pickle opcode, never executed
    cfg["base_model"] = tiny_model_name
    (out / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(GeomatchError, match="unreadable"):
        load_model(out)
