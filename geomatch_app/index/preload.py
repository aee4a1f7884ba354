"""Import the libraries of the first query in a thread at launch, so no job imports them
while the window is up and none of them freezes it.

Importing torch from any thread holds the GIL for long stretches: its shared libraries are
loaded by ``ctypes.CDLL`` and the ``torch._C`` extension import, ~230 ms at a stretch on the
2-core machine (benchmarks/bench_startup.py). :func:`load_libraries_unlocked` loads them first
through a plain C ``dlopen`` call, which releases the GIL, so the import then holds it ≤ 20 ms
at a time. faiss, ONNX Runtime and OpenCV hold it ≤ 20 ms each. gui/app.py ``run_gui`` starts
:func:`preload_in_background` first thing at launch (``GEOMATCH_PRELOAD``: see there).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

# cv2: geometric verification of the first ranking imports it (measured: a 0.3–0.5 s stall)
MODULES = ("torch", "faiss", "onnxruntime", "cv2", "geomatch_app.index.engines",
           "geomatch_app.index.extract", "geomatch_app.models.backbones",
           "geomatch_app.models.layers", "geomatch_app.models.place",
           "efficientnet_lite_pytorch")  # the default model's classes


# What torch 2.x's own import loads by absolute path (torch/__init__.py ``_load_global_deps``
# and ``_preload_cuda_deps``, in its order): the CUDA wheels' libraries, where installed.
CUDA_LIBS = (("cublas", "libcublasLt.so.*[0-9]"), ("cublas", "libcublas.so.*[0-9]"),
             ("cudnn", "libcudnn.so.*[0-9]"), ("cuda_nvrtc", "libnvrtc.so.*[0-9]"),
             ("cuda_nvrtc", "libnvrtc-builtins.so.*[0-9]"),
             ("cuda_runtime", "libcudart.so.*[0-9]"), ("cuda_cupti", "libcupti.so.*[0-9]"),
             ("cufft", "libcufft.so.*[0-9]"), ("curand", "libcurand.so.*[0-9]"),
             ("nvjitlink", "libnvJitLink.so.*[0-9]"), ("cusparse", "libcusparse.so.*[0-9]"),
             ("cusparselt", "libcusparseLt.so.*[0-9]"), ("cusolver", "libcusolver.so.*[0-9]"),
             ("nccl", "libnccl.so.*[0-9]"), ("nvshmem", "libnvshmem_host.so.*[0-9]"),
             ("cufile", "libcufile.so.*[0-9]"), ("nvtx", "libnvToolsExt.so.*[0-9]"))


def torch_libraries() -> list[tuple[str, bool]]:
    """The shared libraries ``import torch`` loads, in its order, as (path, global): its
    global-deps library, the CUDA wheels' libraries it preloads (CUDA builds only) and the
    ``torch._C`` extension (which pulls in libtorch_cpu/cuda/python through its RUNPATH).
    Found without importing torch; [] where torch is not installed or not on Linux."""
    import glob
    import importlib.util
    import sys

    if not sys.platform.startswith("linux"):
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return []
    here = Path(next(iter(spec.submodule_search_locations)))
    out = [(str(here / "lib" / "libtorch_global_deps.so"), True)]
    if glob.glob(str(here.parent / "nvidia" / "*" / "lib" / "libcudart.so.*[0-9]")):
        for folder, name in CUDA_LIBS:
            for base in sys.path:
                found = sorted(glob.glob(str(Path(base) / "nvidia" / folder / "lib" / name))
                               + glob.glob(str(Path(base) / "nvidia" / "cu*" / "lib" / name)))
                if found:
                    out.append((found[0], False))
                    break
    out += [(p, False) for p in sorted(glob.glob(str(here / "_C.cpython-*.so")))[:1]]
    return [(p, g) for p, g in out if Path(p).is_file()]


def load_libraries_unlocked(libs: list[tuple[str, bool]] | None = None) -> list[str]:
    """dlopen torch's shared libraries (:func:`torch_libraries`) through a plain C call, which
    releases the GIL, so a later ``import torch`` finds them loaded.

    Why: ``import torch`` loads them with ``ctypes.CDLL`` and the extension import, both of
    which hold the GIL; on the 2-core machine that held it ~230 ms at a stretch (the event loop
    froze that long, from whichever thread imported torch). Loaded this way first, the import
    holds it ≤ 20 ms at a time and takes as long as before (measured: 1.0–1.1 s either way).
    Runs no library's Python code (``torch._C``'s initialisation stays in ``import torch``).
    Returns the paths loaded; a library that fails is logged and skipped (torch then loads it
    itself)."""
    import ctypes
    import os
    import sys

    if "torch" in sys.modules:
        return []
    libs = torch_libraries() if libs is None else libs
    if not libs:
        return []
    libc = ctypes.CDLL(None)
    dlopen = libc.dlopen
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    loaded = []
    for path, glob_ in libs:
        mode = os.RTLD_NOW | (os.RTLD_GLOBAL if glob_ else os.RTLD_LOCAL)
        if dlopen(os.fsencode(path), mode):
            loaded.append(path)
        else:
            log.info("preload: could not load %s; torch will load it itself", path)
    return loaded


def preload(modules: tuple[str, ...] = MODULES) -> float:
    """Import ``modules`` (missing optional ones are skipped), torch's shared libraries loaded
    first without the GIL (:func:`load_libraries_unlocked`); returns the seconds it took."""
    t0 = time.perf_counter()
    if "torch" in modules:
        load_libraries_unlocked()
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
