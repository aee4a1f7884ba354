"""Fine-tuning refits the calibration of the new weights (issue 12)."""

from __future__ import annotations

import pytest

from geomatch_app.app.finetune import recalibrate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_recalibrate_fits_the_new_weights_when_the_base_has_a_calibration(
        tmp_path, tiny_model_name, shared_data, monkeypatch):
    from geomatch_app.core import paths
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model
    from geomatch_app.training import calibration as cal_mod

    out = save_model(get_model(tiny_model_name), tmp_path / "ft", card="# ft\n")
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path / "cards")
    assert recalibrate(out) is False  # the base has no calibration: nothing to refit
    assert not (out / "calibration.json").exists()

    cal_mod.Calibration("x", "", cal_mod.Logistic(list(cal_mod.BASE_FEATURES), [0] * 5, [1] * 5,
                                                  [0] * 5, 0.0),
                        match_threshold=0.7, no_match_threshold=0.4).save(
        cal_mod.builtin_calibration_path(tiny_model_name))
    monkeypatch.setattr(cal_mod, "SHARED_CALIBRATION_SETS", ("vprtutorial_triplets",))
    assert recalibrate(out) is True
    fitted = cal_mod.Calibration.load(out / "calibration.json")
    model = get_model(str(out))
    assert fitted.weight_hash == model.weight_hash() and not fitted.inherited_from
    assert (fitted.match_threshold, fitted.no_match_threshold) == (0.7, 0.4)  # kept from base
    assert fitted.report["fitted_on"] == ["vprtutorial_triplets"]
    assert cal_mod.load_calibration(model.fingerprint()) is not None
    assert "## Calibration" in (out / "README.md").read_text()
