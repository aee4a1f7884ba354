"""The freedesktop entry, AppStream metadata and icons that the bundle ships are valid."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from geomatch_app.core.paths import REPO_DIR

LINUX = REPO_DIR / "packaging" / "linux"
ID = "io.github.geomatch.Geomatch"


def test_desktop_entry_and_metainfo_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(LINUX / f"{ID}.desktop", encoding="utf-8")
    de = entry["Desktop Entry"]
    assert de["Type"] == "Application" and de["Icon"] == ID
    assert de["Exec"].startswith("geomatch gui")  # install-desktop-entry.sh rewrites the path
    meta = ET.parse(LINUX / f"{ID}.metainfo.xml").getroot()
    assert meta.findtext("id") == ID
    assert meta.find("launchable").text == f"{ID}.desktop"


@pytest.mark.parametrize("tool,args,name", [
    ("desktop-file-validate", [], f"{ID}.desktop"),
    ("appstreamcli", ["validate", "--no-net"], f"{ID}.metainfo.xml"),
])
def test_validators_accept_the_files(tool, args, name):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not installed")
    proc = subprocess.run([tool, *args, str(LINUX / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_icons_exist_in_every_size():
    icons = REPO_DIR / "packaging" / "icons"
    for n in (16, 32, 48, 64, 128, 256, 512):
        with Image.open(icons / f"geomatch-{n}.png") as im:
            assert im.size == (n, n) and im.mode == "RGBA"
    assert (icons / "geomatch.ico").is_file() and (icons / "geomatch.icns").is_file()
