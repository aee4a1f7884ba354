"""Start-up: launch → window shown → first query ranked on the demo, and how long the GUI
thread's event loop ever stalls on the way, each launch a fresh subprocess (offscreen Qt).

The child runs ``geomatch demo`` itself (geomatch_app.cli.main). Before that it wraps
``QApplication.exec`` to start a 10 ms QTimer heartbeat: any gap between two ticks is time the
event loop could not repaint or react (a stall). It also notes on which thread torch is first
imported. The parent times from just before it spawns the child, so interpreter start-up and
imports count. A bare QApplication + QMainWindow launch is measured in the same run as the floor.

A probe thread that sleeps 1 ms at a time also reports the longest time any thread held the
GIL; a stall without such a hold is the GUI thread's own (C++) work or CPU contention.

Runs: the first in a fresh data folder (builds the demo index: "first run"), then --runs more
in the same folder ("warm", the usual case) in each preload mode (GEOMATCH_PRELOAD=join, the
default: a splash screen, the window once the preload is done; 1: the window at once, the
preload beside it; 0: none), interleaved; medians are reported. "to splash" is when the splash
screen was shown (join mode only).

Usage: python benchmarks/bench_startup.py [--runs 3] [--timeout 240]
BENCH_STALL_DUMP=FILE: the child also writes every thread's stack 80 ms into each stall to FILE.
Writes benchmarks/results/bench_startup.json.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import machine, median, table, write_json  # noqa: E402

MARK = "BENCH_STARTUP "
HEARTBEAT_MS = 10
STALL_MS = 100
DUMP_AFTER_S = 0.08  # BENCH_STALL_DUMP: a stack dump this long into a stall
AFTER_RANKED_S = float(os.environ.get("BENCH_AFTER_S", "1.0"))  # keep measuring stalls this
# long after the first ranking arrives (--after; 30 s covers the map's place-name load)


# --------------------------------------------------------------------------------- child
class TorchImportSpy:
    """A meta-path finder that only records where and when ``torch`` is first imported."""

    def __init__(self):
        self.when: float | None = None
        self.thread = ""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and self.when is None and not _asked_by_find_spec():
            self.when = time.time()
            self.thread = threading.current_thread().name
        return None


def _asked_by_find_spec() -> bool:
    """True for importlib.util.find_spec (an "is it installed?" check), not an import."""
    f = sys._getframe(2)
    for _ in range(4):
        if f is None:
            return False
        name = f.f_code.co_filename
        if name == "<frozen importlib.util>" or name.endswith(("importlib/util.py",
                                                                 "importlib\\util.py")):
            return True
        f = f.f_back
    return False


def other_threads() -> str:
    """Where the other threads are right after a stall: the innermost geomatch frame and the
    innermost frame of each (the GUI thread was starved by whoever held the GIL)."""
    import traceback

    main = threading.main_thread().ident
    out = []
    for ident, frame in sys._current_frames().items():
        if ident == main:
            continue
        stack = traceback.extract_stack(frame)
        ours = [f for f in stack if "geomatch_app" in f.filename]
        inner = stack[-1]
        where = f"{Path(inner.filename).name}:{inner.lineno} {inner.name}"
        if ours:
            o = ours[-1]
            where = f"{o.filename.split('geomatch_app/')[-1]}:{o.lineno} {o.name} > " + where
        if "threading.py" not in where or ours:
            out.append(where)
    return "; ".join(out) or "(no other thread busy)"


class GilProbe:
    """A thread that sleeps 1 ms at a time: a longer gap between its wake-ups is time some
    thread held the GIL (a GUI thread busy in Qt's C++ code releases it, so that shows as a
    heartbeat stall without a probe gap)."""

    def __init__(self):
        self.gaps: list[tuple[float, float]] = []
        threading.Thread(target=self._run, daemon=True, name="gil-probe").start()

    def _run(self):
        last = time.time()
        while True:
            time.sleep(0.001)
            now = time.time()
            if now - last > 0.02:
                self.gaps.append((last, (now - last) * 1000.0))
            last = now

    def max_gap_ms(self, since: float | None) -> float:
        return max((g for t, g in self.gaps if since is None or t >= since), default=0.0)


def child(kind: str) -> int:
    spy = TorchImportSpy()
    sys.meta_path.insert(0, spy)
    marks: dict = {"child_start": time.time()}
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    state = {"last": None, "gaps": [], "window": None, "ranked_at": None}

    def finish(app):
        gaps = state["gaps"]
        out = dict(marks, torch_import_at=spy.when, torch_import_thread=spy.thread,
                   max_gil_hold_ms=probe.max_gap_ms(marks.get("event_loop_start")),
                   gc_enabled=gc.isenabled(), gc_frozen=gc.get_freeze_count(),
                   max_stall_ms=max((g for g, _ in gaps), default=0.0),
                   stalls_over_100ms=[(round(g, 1), phase) for g, phase in gaps
                                      if g > STALL_MS])
        print(MARK + json.dumps(out), flush=True)
        app.exit(0)

    dump = os.environ.get("BENCH_STALL_DUMP")
    dump_file = open(dump, "a") if dump else None  # noqa: SIM115 - open for the whole run

    def tick():
        now = time.time()
        if dump_file is not None:  # a C watchdog dumps every thread's stack 80 ms into a stall
            dump_file.write(f"--- tick {now:.3f}\n")
            dump_file.flush()
            faulthandler.dump_traceback_later(DUMP_AFTER_S, file=dump_file)
        if state["last"] is not None:
            phase = ("before window" if "window_shown" not in marks else
                     "before first ranking" if "first_ranked" not in marks else "after ranking")
            gap = (now - state["last"]) * 1000.0
            if gap > STALL_MS:
                phase += ": " + other_threads()
            state["gaps"].append((gap, phase))
        state["last"] = now
        app = QApplication.instance()
        if state["window"] is None:
            for w in app.topLevelWidgets():
                if isinstance(w, QMainWindow) and w.isVisible():
                    state["window"] = w
                    marks["window_shown"] = now
                    if kind == "bare":
                        QTimer.singleShot(200, lambda: finish(app))
                    elif hasattr(w, "query_ranked"):
                        w.query_ranked.connect(lambda *_: on_ranked(app))
                    break

    def on_ranked(app):
        if "first_ranked" not in marks:
            marks["first_ranked"] = time.time()
            QTimer.singleShot(int(AFTER_RANKED_S * 1000), lambda: finish(app))

    real_exec = QApplication.exec

    def exec_with_heartbeat(self, *args):
        marks["event_loop_start"] = time.time()
        timer = QTimer(self)
        timer.setInterval(HEARTBEAT_MS)
        timer.timeout.connect(tick)
        timer.start()
        return real_exec()  # static in Qt: QApplication.exec()

    QApplication.exec = exec_with_heartbeat
    from PySide6.QtWidgets import QSplashScreen

    real_show = QSplashScreen.show

    def splash_show(self):
        marks.setdefault("splash_shown", time.time())
        return real_show(self)

    QSplashScreen.show = splash_show
    probe = GilProbe()  # read by finish()
    if kind == "bare":
        app = QApplication([sys.argv[0]])
        win = QMainWindow()
        win.resize(1200, 800)
        win.show()
        return app.exec()
    from geomatch_app.cli import main as cli_main

    return cli_main(["demo"])


# -------------------------------------------------------------------------------- parent
def launch(kind: str, home: Path, timeout: float) -> dict:
    env = dict(os.environ, GEOMATCH_HOME=str(home), QT_QPA_PLATFORM="offscreen",
               QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox --disable-gpu",
               XDG_CONFIG_HOME=str(home / "config"),
               GEOMATCH_PRELOAD={"demo-nopreload": "0", "demo-background": "1"}.get(kind, "join"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's Python caches compiled modules
    t0 = time.time()
    child_kind = "bare" if kind == "bare" else "demo"
    proc = subprocess.run([sys.executable, __file__, "--child", child_kind], env=env,
                          capture_output=True, text=True, timeout=timeout)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"{kind} launch gave no result (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    m = json.loads(line[len(MARK):])

    def since(key):
        return None if m.get(key) is None else round(m[key] - t0, 3)

    return {"to_python_start_s": since("child_start"), "to_splash_s": since("splash_shown"),
            "to_window_s": since("window_shown"),
            "to_first_ranked_s": since("first_ranked"),
            "torch_import_s": since("torch_import_at"),
            "torch_import_thread": m.get("torch_import_thread"),
            "max_stall_ms": round(m["max_stall_ms"], 1),
            "max_gil_hold_ms": round(m["max_gil_hold_ms"], 1),
            "stalls_over_100ms": m["stalls_over_100ms"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="warm launches after the first run")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--after", type=float, default=None,
                    help="seconds to keep measuring after the first ranking (default 1)")
    ap.add_argument("--child", choices=("demo", "bare"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.after is not None:
        os.environ["BENCH_AFTER_S"] = str(args.after)  # read by the launched children
    if args.child:
        sys.exit(child(args.child))
    home = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    first = launch("demo", home, args.timeout)
    warm, bare, first_torch, background = [], [], [], []
    for _ in range(args.runs):  # interleaved, so load changes hit all alike
        bare.append(launch("bare", home, args.timeout))
        warm.append(launch("demo", home, args.timeout))
        background.append(launch("demo-background", home, args.timeout))
        first_torch.append(launch("demo-nopreload", home, args.timeout))

    def med(runs, key):
        vals = [r[key] for r in runs if r[key] is not None]
        return round(median(vals), 3) if vals else None

    def row(label, runs):
        return [f"{label}, median of {args.runs}", med(runs, "to_splash_s") or "-",
                med(runs, "to_window_s"), med(runs, "to_first_ranked_s"),
                med(runs, "max_stall_ms"), med(runs, "max_gil_hold_ms"),
                max(len(r["stalls_over_100ms"]) for r in runs)]

    rows = [["first run (demo index built)", first["to_splash_s"] or "-", first["to_window_s"],
             first["to_first_ranked_s"], first["max_stall_ms"], first["max_gil_hold_ms"],
             len(first["stalls_over_100ms"])],
            row("warm, splash, window once the preload is done (GEOMATCH_PRELOAD=join, the "
                "default)", warm),
            row("warm, window at once, preload beside it (GEOMATCH_PRELOAD=1)", background),
            row("warm, no preload (GEOMATCH_PRELOAD=0: torch first imported by a job)",
                first_torch),
            [f"bare Qt window, median of {args.runs}", "-", med(bare, "to_window_s"), "-",
             med(bare, "max_stall_ms"), "-", max(len(r["stalls_over_100ms"]) for r in bare)]]
    ratios = {"warm window / bare Qt window": med(warm, "to_window_s")
              / med(bare, "to_window_s"),
              "warm max stall ms (goal <= 100)": med(warm, "max_stall_ms"),
              "background-preload max stall ms": med(background, "max_stall_ms"),
              "no-preload max stall ms": med(first_torch, "max_stall_ms"),
              "warm window / background-preload window": med(warm, "to_window_s")
              / med(background, "to_window_s"),
              "warm first ranked / background-preload first ranked":
                  med(warm, "to_first_ranked_s") / med(background, "to_first_ranked_s"),
              "warm first ranked / no-preload first ranked": med(warm, "to_first_ranked_s")
              / med(first_torch, "to_first_ranked_s"),
              "first-run max stall ms (goal <= 100)": first["max_stall_ms"]}
    threads = sorted({r["torch_import_thread"] or "never" for r in [first, *warm]})
    print(f"bench_startup: geomatch demo, offscreen Qt, {HEARTBEAT_MS} ms heartbeat, "
          f"1 first run + {args.runs} warm runs")
    print(table(["launch", "to splash s", "to window s", "to first ranked s", "max stall ms",
                 "max GIL hold ms", f"stalls > {STALL_MS} ms"], rows))
    print()
    print(table(["ratio / goal (same run)", "value"], [[k, round(v, 2)] for k, v in
                                                       ratios.items()]))
    print(f"\ntorch first imported on: {', '.join(threads)}")
    named = ([("first run", first)] + [(f"warm {i}", r) for i, r in enumerate(warm)]
             + [(f"background {i}", r) for i, r in enumerate(background)]
             + [(f"no preload {i}", r) for i, r in enumerate(first_torch)])
    for name, r in named:
        if r["stalls_over_100ms"]:
            print(f"{name} stalls over {STALL_MS} ms: {r['stalls_over_100ms']}")
    path = write_json("bench_startup.json", {"first_run": first, "warm": warm, "bare": bare,
                                             "warm_no_preload": first_torch,
                                             "warm_background": background,
                                             "ratios": ratios, "torch_import_threads": threads,
                                             "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
