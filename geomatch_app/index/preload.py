"""Import the libraries of the first query before the window shows, so the event loop never
stalls on them.

Importing torch from a worker thread does not keep the GUI responsive: loading its extension
modules holds the GIL for up to ~0.5 s at a time (benchmarks/bench_startup.py measured stalls
of 0.4–1.2 s on the 2-core machine), faiss's SWIG module ~0.1–0.3 s and OpenCV ~0.3–0.5 s.
gui/app.py ``run_gui`` starts :func:`preload_in_background` first thing at launch, lets Qt and
the window set up meanwhile, and ``join()``s the thread just before showing the window: the
window appears when both are ready, and none of these imports freezes it afterwards.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time

log = logging.getLogger(__name__)

# cv2: geometric verification of the first ranking imports it (measured: a 0.3–0.5 s stall)
MODULES = ("torch", "faiss", "onnxruntime", "cv2", "geomatch_app.index.engines",
           "geomatch_app.index.extract", "geomatch_app.models.backbones",
           "geomatch_app.models.layers", "geomatch_app.models.place",
           "efficientnet_lite_pytorch")  # the default model's classes


def preload(modules: tuple[str, ...] = MODULES) -> float:
    """Import ``modules`` (missing optional ones are skipped); returns the seconds it took."""
    t0 = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.info("preload: %s not available (%s)", name, exc)
    dt = time.perf_counter() - t0
    log.info("preloaded %s in %.2f s", ", ".join(modules), dt)
    return dt


def preload_in_background(modules: tuple[str, ...] = MODULES) -> threading.Thread:
    """A started daemon thread running :func:`preload`; ``join()`` it before showing the
    window."""
    t = threading.Thread(target=preload, args=(modules,), name="geomatch-preload", daemon=True)
    t.start()
    return t
