"""run_spawned: a child's exit code, and a child that runs past its time is killed."""

import time

from geomatch_app.core.child import run_spawned


def test_exit_code_and_timeout():
    assert run_spawned(time.sleep, (0,), 60, "quick") == 0
    # a child still sleeping at its deadline is killed and reported as None (a child that
    # was waited for would exit 0)
    assert run_spawned(time.sleep, (30,), 0.5, "slow") is None
