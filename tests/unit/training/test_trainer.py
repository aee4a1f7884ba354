"""The trainer on a small real Nordland subset with a tiny model: the loss falls, events stream,
cancel stops within a second, and a resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from geomatch_app.core.progress import Cancelled, Progress
from geomatch_app.models import get_model
from geomatch_app.models.losses import ranking_loss
from geomatch_app.training.augment import ImageSource
from geomatch_app.training.sources import MatchRules, from_photos
from geomatch_app.training.trainer import TrainConfig, train

RULES = MatchRules(pos_frames=1, neg_frames=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(nordland_photos):
    q, g = nordland_photos
    return from_photos(q, g, RULES, val_fraction=0.25)


def _config(name, out, **kw):
    base = dict(model=name, out_dir=str(out), epochs=1, batch_size=4, n_neg=5, neg_cache=30,
                refresh_every=16, lr=3e-3, augment=False, train_rules=RULES, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _fixed_tuple_loss(model, data, seed=0):
    """Ranking loss on fixed tuples (first positive, 5 random far negatives) of the training
    queries: independent of mining, so it compares models fairly."""
    split = data.train
    rng = np.random.default_rng(seed)
    src = ImageSource(model.preprocess)
    qs, ps, ns = [], [], []
    for i in range(len(split)):
        allowed = np.setdiff1d(np.arange(len(split.gallery)), split.non_negatives[i])
        qs.append(split.queries[i].path)
        ps.append(split.gallery[split.positives[i][len(split.positives[i]) // 2]].path)
        ns += [split.gallery[j].path for j in rng.choice(allowed, 5, replace=False)]
    with torch.no_grad():
        dq, dp, dn = (model(src.batch(p, augment=False)) for p in (qs, ps, ns))
    return float(ranking_loss(dq, dp[:, None], dn.reshape(len(qs), 5, -1), margin=0.1))


def test_loss_falls_and_model_is_saved(tmp_path, tiny_model_name, nordland_photos):
    data = _data(nordland_photos)
    events = []
    res = train(data, _config(tiny_model_name, tmp_path / "ft", epochs=5), on_event=events.append)
    steps = [e for e in events if e.losses]
    assert len(steps) == 5 * int(np.ceil(len(data.train) / 4)) >= 30
    assert steps[-1].step == steps[-1].total_steps and events[-1].eta_s == 0
    vals = [e for e in events if e.val]
    assert len(vals) == 6 and set(vals[0].val) == {"R@1", "R@5", "R@10", "R@20"}
    before = _fixed_tuple_loss(get_model(tiny_model_name).eval(), data)
    after = _fixed_tuple_loss(get_model(str(res.model_dir)), data)
    assert after < 0.7 * before, (before, after)
    assert res.before == vals[0].val and res.after == vals[-1].val
    card = (res.model_dir / "README.md").read_text()
    assert tiny_model_name in card and "before" in card and "after" in card
    assert not (res.model_dir / "resume").exists()


def test_cancel_stops_at_the_next_step(tmp_path, tiny_model_name, nordland_photos):
    """Event-based: once cancel is asked at step 2, no further optimiser step completes (the
    wall-clock latency is a benchmark matter, not a unit test's)."""
    data = _data(nordland_photos)
    flag = threading.Event()
    steps: list[int] = []

    def on_event(ev):
        if ev.losses:
            steps.append(ev.step)
            if ev.step == 2:
                flag.set()

    with pytest.raises(Cancelled):
        train(data, _config(tiny_model_name, tmp_path / "ft", epochs=50),
              progress=Progress(cancelled=flag.is_set), on_event=on_event)
    assert steps and max(steps) == 2


def test_resume_continues_exactly(tmp_path, tiny_model_name, nordland_photos):
    data = _data(nordland_photos)
    full = train(data, _config(tiny_model_name, tmp_path / "full", epochs=2, augment=True))
    flag = threading.Event()

    def stop_after_first_epoch(ev):
        if ev.val and ev.epoch == 1:
            flag.set()  # the epoch's resume state is written right after this event

    out = tmp_path / "resumed"
    with pytest.raises(Cancelled):
        train(data, _config(tiny_model_name, out, epochs=2, augment=True),
              progress=Progress(cancelled=flag.is_set), on_event=stop_after_first_epoch)
    assert (out / "resume" / "state.json").is_file()
    res = train(data, _config(tiny_model_name, out, epochs=2, augment=True, resume=True))
    assert get_model(str(res.model_dir)).weight_hash() == \
        get_model(str(full.model_dir)).weight_hash()
    assert res.before == full.before
