"""The one worker: results, errors, cancel, and an event loop that never stalls."""

from __future__ import annotations

import time

import numpy as np
import pytest

from geomatch_app.core.errors import ImageError
from geomatch_app.gui.worker import Worker


def _busy(n_steps: int, step_s: float, progress=None) -> int:
    """CPU-bound work with progress steps (numpy + pure Python, like descriptor extraction)."""
    total = 0
    for i in range(n_steps):
        t0 = time.monotonic()
        while time.monotonic() - t0 < step_s:
            a = np.random.default_rng(i).random((64, 64))
            total += int((a @ a).sum() > 0)
        progress.step(i + 1, n_steps, f"step {i + 1}")
    return total


def test_result_and_progress_arrive_on_gui_thread(qtbot):
    w = Worker(_busy, 5, 0.01, label="busy")
    seen = []
    w.signals.progress.connect(lambda d, t, m: seen.append((d, t)))
    with qtbot.waitSignal(w.signals.result, timeout=10_000) as blocker:
        w.start()
    assert blocker.args[0] > 0
    assert seen[-1] == (5, 5)  # the last step is never throttled away
    assert w.state == "done"


def test_error_is_delivered_not_raised(qtbot):
    def bad(progress=None):
        raise ImageError("not a recognised image file", "/tmp/x.jpg", "convert it")

    w = Worker(bad)
    with qtbot.waitSignal(w.signals.error, timeout=5_000) as blocker:
        w.start()
    assert isinstance(blocker.args[0], ImageError)
    assert "/tmp/x.jpg" in str(blocker.args[0])
    assert w.state == "failed"


def test_cancel_stops_at_next_step(qtbot):
    w = Worker(_busy, 1000, 0.01)
    w.signals.progress.connect(lambda d, t, m: w.cancel() if d >= 3 else None)
    with qtbot.waitSignal(w.signals.cancelled, timeout=10_000):
        w.start()
    assert w.state == "cancelled"
    assert w.last_progress[0] < 100


def test_event_loop_keeps_running_during_long_job(qtbot, stall_meter):
    """A CPU-bound job runs off the GUI thread: the GUI's timer keeps firing between the job's
    progress steps (event-based; stall lengths in ms are measured by benchmarks/)."""
    import threading

    ran_on: list[int] = []

    def job(progress=None):
        ran_on.append(threading.get_ident())
        return _busy(30, 0.05, progress=progress)

    ticks_at_step: list[int] = []
    stall_meter.start()
    w = Worker(job)
    w.signals.progress.connect(lambda d, t, m: ticks_at_step.append(len(stall_meter.gaps)))
    with qtbot.waitSignal(w.signals.finished, timeout=60_000):
        w.start()
    stall_meter.stop()
    assert w.state == "done"
    assert ran_on and ran_on[0] != threading.get_ident()
    # timer ticks were delivered while the job was between its first and last step
    assert ticks_at_step[-1] - ticks_at_step[0] >= 10


@pytest.mark.parametrize("pass_progress", [False])
def test_plain_function_without_progress(qtbot, pass_progress):
    w = Worker(lambda a, b: a + b, 2, 3, pass_progress=pass_progress)
    with qtbot.waitSignal(w.signals.result, timeout=5_000) as blocker:
        w.start()
    assert blocker.args == [5]
