"""gui/pyside_scan: PySide6's per-import source scan is skipped only for packages that cannot
use PySide6; every other module still gets PySide6's own answer."""

from __future__ import annotations

import sys
import types

import geomatch_app.gui.app  # noqa: F401 - applies the patch, as the app does
from geomatch_app.gui import pyside_scan


def _module(name: str, path) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    return mod


def test_listed_and_stdlib_packages_are_not_read_others_are(tmp_path):
    feature = sys.modules["shibokensupport.feature"]
    scan = feature._mod_uses_pyside
    assert scan.geomatch_fast and pyside_scan.skip_pyside_source_scan()  # idempotent
    src = tmp_path / "uses_qt.py"
    src.write_text("import PySide6.QtCore\n")
    # the same source: PySide6's own check reads it and says yes ...
    assert scan.original(_module("mypkg.uses_qt", src)) is True
    assert scan(_module("mypkg.uses_qt", src)) is True
    # ... but a module of a listed or standard-library package is answered without reading
    for name in ("torch.fake_mod", "numpy", "json.fake_mod", "cv2"):
        assert scan(_module(name, src)) is False, name
    assert feature._mod_uses_pyside is scan
