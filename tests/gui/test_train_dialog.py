"""The fine-tuning dialog on a real curation database: confirmed Nordland pairs train a tiny
model in the background with live curves, the new model is listed, re-indexing works, and
Cancel stops the job within a second."""

from __future__ import annotations

import pytest


@pytest.fixture
def curated_store(nordland_store):
    """30 Nordland summer gallery photos and 30 winter queries, each confirmed on the summer
    photo of its place; 5 more winter photos wait in the queue."""
    return nordland_store(35, 30)


def _config(dialog, model, name, **kw):
    from geomatch_app.training.sources import MatchRules

    cfg = dialog.make_config()
    cfg.model = model
    cfg.out_dir = str(cfg.out_dir).rsplit("/", 1)[0] + "/" + name
    cfg.lr, cfg.batch_size, cfg.n_neg, cfg.neg_cache = 3e-3, 4, 5, 20
    cfg.augment, cfg.device = False, "cpu"
    cfg.train_rules = MatchRules(pos_frames=1, neg_frames=2)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_dialog_trains_lists_and_reindexes(qtbot, curated_store, tiny_model_name):
    import torch

    from geomatch_app.gui.settings import Settings
    from geomatch_app.gui.train_dialog import TrainDialog
    from geomatch_app.models import list_models

    torch.set_num_threads(1)
    dlg = TrainDialog(None, Settings(), store=curated_store)
    qtbot.addWidget(dlg)
    assert "30 confirmed pairs" in dlg.data_label.text()
    dlg.use_queue.setChecked(True)  # 5 open queries → MK-MMD targets
    with qtbot.waitSignal(dlg.model_trained, timeout=120_000) as blocker:
        # 5 epochs: the tiny model's validation recall beats the base's by then (with 3 it
        # does not, and a model that did not improve is, rightly, not offered)
        dlg.start(_config(dlg, tiny_model_name, "gui-tuned", epochs=5, n_target=4))
    assert blocker.args[0] == "gui-tuned"
    assert "gui-tuned" in list_models()
    assert len(dlg._steps) >= 6 and "mmd" in dlg._losses  # curves were fed live
    assert len(dlg._val_steps) == 6  # before + after each of 5 epochs
    xs, _ = dlg.recall_curves["R@1"].getData()
    assert len(xs) == 6
    assert "before" in dlg.summary.text() and "after" in dlg.summary.text()
    assert dlg.use_button.isEnabled()
    assert any(m.name == "gui-tuned" for m in curated_store.models())

    with qtbot.waitSignal(dlg.index_built, timeout=60_000) as built:
        dlg.use_and_reindex()
    index = built.args[0]
    assert index.model_name == "gui-tuned" and len(index) == 35
    assert dlg.settings.model == "gui-tuned"


def test_cancel_stops_training_at_the_next_step(qtbot, curated_store, tiny_model_name):
    import torch

    from geomatch_app.gui.settings import Settings
    from geomatch_app.gui.train_dialog import TrainDialog

    torch.set_num_threads(1)
    dlg = TrainDialog(None, Settings(), store=curated_store)
    qtbot.addWidget(dlg)
    w = dlg.start(_config(dlg, tiny_model_name, "gui-cancelled", epochs=500))
    qtbot.waitUntil(lambda: len(dlg._steps) >= 2, timeout=60_000)
    with qtbot.waitSignal(w.signals.cancelled, timeout=30_000):
        dlg.cancel()
        at_cancel = len(dlg._steps)
    assert len(dlg._steps) <= at_cancel + 1  # at most the step under way finishes
    assert "Cancelled" in dlg.status.text()
    assert dlg.start_button.isEnabled()


def test_the_fast_option_trains_on_the_cached_trunk(qtbot, curated_store, tiny_model_name):
    """Ticking "fast" (clicked, not set in code) makes the job a cached-trunk run: the new
    model's card says so and its frozen layers are the base's."""
    import torch
    from PySide6.QtCore import QPoint, Qt

    from geomatch_app.gui.settings import Settings
    from geomatch_app.gui.train_dialog import TrainDialog
    from geomatch_app.models import get_model

    torch.set_num_threads(1)
    dlg = TrainDialog(None, Settings(), store=curated_store)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert not dlg.make_config().cache_trunk
    box = dlg.cache_trunk  # click on its indicator, at the left edge
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert dlg.make_config().cache_trunk
    dlg.start(_config(dlg, tiny_model_name, "gui-fast", epochs=1, freeze_below=2))
    qtbot.waitUntil(lambda: dlg.worker.is_done(), timeout=120_000)
    # the result reaches the dialog by a queued signal, after the job's thread is done
    qtbot.waitUntil(lambda: dlg.result is not None or dlg.worker.state != "done",
                    timeout=10_000)
    res = dlg.result
    assert res is not None, dlg.status.text()
    card = (res.model_dir / "README.md").read_text()
    assert "cached trunk" in card
    base, new = get_model(tiny_model_name), get_model(str(res.model_dir))
    assert torch.equal(base.backbone[0].weight, new.backbone[0].weight)
