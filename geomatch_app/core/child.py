"""One-off work in a spawned child process, away from the window's GIL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable


def run_spawned(target: Callable, args: tuple, timeout_s: float, name: str) -> int | None:
    """Run ``target(*args)`` in a spawned child (never forked: the parent may run Qt) and wait
    up to ``timeout_s``. The child's exit code, or None when it ran out of time (it is then
    killed). Raises OSError when no process can be started."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=args, name=name,
                                                         daemon=True)
    child.start()
    child.join(timeout_s)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode
