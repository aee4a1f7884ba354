"""No confirmation is lost: a child process records confirmations in a loop and is SIGKILLed at
random moments, 20 times. After each kill the file opens, passes integrity_check and the orphan
checks, and holds every confirmation whose ``decide`` call had returned (the child prints each
id only after the call returned, so "acknowledged" is a lower bound of "returned")."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geomatch_app.store import Store
from geomatch_app.store.check import check_database

KILLS = 20
PER_CHILD = 1000

CHILD = r"""
import sys
from geomatch_app.store import Store
store = Store(sys.argv[1])
qids = [int(x) for x in sys.argv[2].split(",")]
start = int(sys.argv[3])
sys.stdout.write("ready\n"); sys.stdout.flush()
for i in range(start, start + int(sys.argv[4])):
    did = store.decide(qids[i % len(qids)], "confirmed", lat=(i % 170) - 85.0,
                       lon=(i % 360) - 180.0, heading=i % 360, curator="kill", note=f"c{i}")
    sys.stdout.write(f"{i} {did}\n"); sys.stdout.flush()
sys.stdout.write("finished\n"); sys.stdout.flush()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_loses_no_acknowledged_confirmation(tmp_path: Path):
    db = tmp_path / "kill.sqlite"
    with Store(db) as store:
        qids = [store.add_query(tmp_path / f"q{i}.jpg") for i in range(10)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    rng = random.Random(20240301)
    acked: dict[int, str] = {}  # decision id -> note
    kills = start = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), ",".join(map(str, qids)), str(start),
             str(PER_CHILD)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        for line in proc.stdout.read().splitlines():
            if line == "finished":
                continue
            i, did = line.split()
            acked[int(did)] = f"c{i}"
            start = max(start, int(i) + 1)
        proc.stdout.close()

        report = check_database(db)
        assert report.ok, report.problems
        with Store(db) as store:
            found = {d.id: d.note for q in qids for d in store.decisions(q)}
        lost = [did for did, note in acked.items() if found.get(did) != note]
        assert lost == [], f"lost {len(lost)} acknowledged confirmations"
        start = max(start, max((int(n[1:]) for n in found.values()), default=-1) + 1)
    print(f"\nkill test: {kills} kills, {len(acked)} confirmations acknowledged, "
          f"{len(found)} in the file, 0 lost")
    assert kills >= KILLS // 2  # most children were really killed mid-loop


def test_confirm_throughput(tmp_path: Path):
    """Not a timing assert: prints confirmations per second (synchronous=FULL, one
    transaction and fsync per confirmation) for the report."""
    with Store(tmp_path / "t.sqlite") as store:
        qids = [store.add_query(tmp_path / f"q{i}.jpg") for i in range(50)]
        n = 300
        t0 = time.perf_counter()
        for i in range(n):
            store.decide(qids[i % 50], "confirmed", lat=1.0 + i * 1e-4, lon=2.0, curator="t")
        rate = n / (time.perf_counter() - t0)
        assert store.stats()["decisions"] == n
    print(f"\nconfirm throughput: {rate:.0f} confirmations/s")
