"""``geomatch train`` end to end on a real Nordland subset with the real effnetlite2-gem
(input 32 px, a handful of steps): prints recall before/after, writes a listed model folder
with a card, and refuses to overwrite it."""

from __future__ import annotations

import csv

import pytest

from geomatch_app.cli import main


@pytest.fixture
def small_manifest(tmp_path, shared_data):
    src = shared_data / "nordland_seqslam"
    if not (src / "manifest.csv").is_file():
        pytest.skip("nordland_seqslam is not in ../shared/data")
    keep = {f"nordland_{n:05d}" for n in range(30000, 30250, 10)}
    with (src / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["place_id"] in keep]
    import shutil

    out = tmp_path / "manifest.csv"  # manifest paths stay inside its folder: copy the frames
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            (tmp_path / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / r["path"], tmp_path / r["path"])
            w.writerow(r)
    return out


def test_train_from_manifest(small_manifest, capsys):
    import torch

    from geomatch_app.core.paths import user_data_dir
    from geomatch_app.models import get_model, list_models

    torch.set_num_threads(1)
    out = user_data_dir() / "models" / "cli-tuned"
    argv = ["train", "--manifest", str(small_manifest), "--model", "effnetlite2-gem",
            "--out", str(out), "--epochs", "1", "--queries-per-epoch", "8",
            "--batch-size", "4", "--negatives", "4", "--neg-cache", "20", "--image-size", "32",
            "--lr", "1e-4", "--pos-frames", "1", "--neg-frames", "2", "--device", "cpu",
            "--threads", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "recall on the validation split" in text
    assert "| before |" in text and "| after |" in text and "R@20" in text
    assert "cli-tuned" in list_models()
    model = get_model("cli-tuned")
    assert model.preprocess.size == 32 and model.name == "cli-tuned"
    card = (out / "README.md").read_text()
    assert "effnetlite2-gem" in card and model.weight_hash() in card
    assert main(argv) == 1  # refuses to overwrite a finished model
    assert "already holds a model" in capsys.readouterr().err
