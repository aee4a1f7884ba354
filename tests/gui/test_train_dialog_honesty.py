"""The fine-tuning dialog is honest: it refuses two confirmed pairs with the number needed, and
a model that did not beat the base model's validation recall is not offered."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def two_pair_store(nordland_store):
    return nordland_store(10, 2)


def test_dialog_refuses_two_pairs(qtbot, two_pair_store, tiny_model_name):
    from geomatch_app.gui.settings import Settings
    from geomatch_app.gui.train_dialog import TrainDialog

    dlg = TrainDialog(None, Settings(), store=two_pair_store)
    qtbot.addWidget(dlg)
    cfg = dlg.make_config()
    cfg.model = tiny_model_name
    assert dlg.start(cfg) is not None
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=30_000)
    text = dlg.status.text()
    assert "only 2 pairs" in text and "at least 10 training pairs" in text, text
    assert not dlg.use_button.isEnabled()
    assert not Path(cfg.out_dir).exists()  # nothing was trained or saved


def test_dialog_keeps_the_old_model_when_recall_did_not_improve(qtbot, monkeypatch, tmp_path,
                                                                two_pair_store):
    from geomatch_app.app import finetune
    from geomatch_app.gui import train_dialog
    from geomatch_app.gui.settings import Settings
    from geomatch_app.training.trainer import TrainResult

    same = {"R@1": 0.0, "R@5": 0.5, "R@10": 0.5, "R@20": 1.0}

    def fake_finetune(spec, config, **kw):
        return TrainResult(tmp_path / "m", "m", dict(same), dict(same), [], 1.0, 12)

    monkeypatch.setattr(finetune, "finetune", fake_finetune)  # the dialog imports it per start
    dlg = train_dialog.TrainDialog(None, Settings(), store=two_pair_store)
    qtbot.addWidget(dlg)
    trained = []
    dlg.model_trained.connect(trained.append)
    assert dlg.start() is not None
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=30_000)
    assert "did not improve" in dlg.status.text()
    assert "keeping the old model" in dlg.status.text()
    assert not dlg.use_button.isEnabled() and trained == []
