"""A writer process killed (os._exit, no clean-up runs) at every fsync/rename of an index update
leaves an index that opens as the old or the new one, never a mix; the next open or write
removes the killed writer's *.tmp files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "index"))
from index_helpers import leftovers, same, state, write  # noqa: E402

CHILD = r"""
import os, sys
sys.path.insert(0, sys.argv[3])
from index_helpers import write
die_at, calls = int(sys.argv[2]), [0]
def deadly(real):
    def call(*a, **kw):
        calls[0] += 1
        if calls[0] == die_at:
            os._exit(137)  # like SIGKILL: no finally, no except, no clean-up
        return real(*a, **kw)
    return call
for name in ("fsync", "replace", "rename"):
    setattr(os, name, deadly(getattr(os, name)))
write(sys.argv[1], seed=2)
print("calls", calls[0])
"""


@pytest.mark.skipif(os.name != "posix", reason="fsync/rename semantics and flock are POSIX")
def test_killed_writer_leaves_old_or_new_index(tmp_path):
    helpers = str(Path(__file__).parents[1] / "unit" / "index")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    probe = tmp_path / "probe"
    write(probe, seed=1)
    old = state(probe)
    out = subprocess.run([sys.executable, "-c", CHILD, str(probe), "0", helpers], env=env,
                         capture_output=True, text=True, check=True).stdout
    total = int(out.split()[-1])
    new = state(probe)
    assert total >= 6 and not same(old, new)
    seen_new = False
    for n in range(1, total + 1):
        folder = tmp_path / f"k{n}"
        write(folder, seed=1)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(n), helpers],
                              env=env, capture_output=True, text=True)
        assert proc.returncode == 137, proc.stderr
        seen = state(folder)  # opening with no writer alive also removes its litter
        assert same(seen, old) or same(seen, new), f"mixed index after a kill at step {n}"
        seen_new |= same(seen, new)
        assert leftovers(folder) == [], f"kill at step {n} left {leftovers(folder)}"
        write(folder, seed=3)
        assert state(folder)[0][0].startswith("/photos/set3/")
    assert seen_new  # the last steps come after the switch
