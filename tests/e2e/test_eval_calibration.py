"""``geomatch eval --json`` reports the calibration and the open-set score (issue 12)."""

from __future__ import annotations

import json

import pytest

from geomatch_app.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_eval_json_has_calibration_and_open_set(tmp_path, shared_data, capsys):
    manifest = shared_data / "vprtutorial_triplets" / "manifest.csv"
    folder = tmp_path / "idx"
    assert main(["index", str(manifest), "--index", str(folder), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["eval", "--queries", str(manifest), "--index", str(folder), "--device", "cpu",
                 "--json", str(tmp_path / "m.json")]) == 0
    assert "open set:" in capsys.readouterr().out
    cal = json.loads((tmp_path / "m.json").read_text())["calibration"]
    assert cal["n"] == 10 and 0.0 <= cal["ece"] <= 1.0 and cal["auroc"] is not None
    assert sum(cal["verdicts"].values()) == 10
    o = cal["open_set"]
    assert o["n_removed"] == 10
    # this set is part of the calibration's fit: a regression check, not a measurement
    assert o["removed_flagged_no_match"] >= 0.7 and o["correct_kept_match"] >= 0.8
    assert (folder / "gallery_stats.json").is_file()  # statistics cached with the index
