"""Where resources and user folders are: inside the package, and in the platform's places."""

from __future__ import annotations

import csv

from geomatch_app.core import paths


def test_resources_live_in_the_package():
    res = paths.resources_dir()
    assert res == paths.PACKAGE_DIR / "resources"
    assert paths.demo_manifest().is_file()
    with paths.demo_manifest().open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 40
    missing = [r["path"] for r in rows if not (paths.demo_dir() / r["path"]).is_file()]
    assert not missing
    assert (paths.leaflet_dir() / "leaflet.js").is_file()
    assert (paths.models_dir() / "effnetlite2-gem.md").is_file()


def test_resources_override(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOMATCH_RESOURCES", str(tmp_path))
    assert paths.demo_manifest() == tmp_path / "demo" / "manifest.csv"


def test_geomatch_home_holds_every_user_folder(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("GEOMATCH_HOME", str(home))
    assert paths.user_data_dir() == home
    assert paths.user_config_dir() == home / "config"
    assert paths.user_cache_dir() == home / "cache"
    assert paths.user_log_dir() == home / "logs"
    assert all(p.is_dir() for p in (home, home / "config", home / "cache", home / "logs"))


def test_platform_folders_are_created_and_outside_the_install(monkeypatch, tmp_path):
    """Without GEOMATCH_HOME the XDG folders are used (platformdirs) and created on first use;
    none of them is inside the package folder."""
    monkeypatch.delenv("GEOMATCH_HOME", raising=False)
    for var, sub in [("XDG_DATA_HOME", "share"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state")]:
        monkeypatch.setenv(var, str(tmp_path / sub))
    got = {"data": paths.user_data_dir(), "config": paths.user_config_dir(),
           "cache": paths.user_cache_dir(), "logs": paths.user_log_dir()}
    import sys

    if sys.platform.startswith("linux"):
        assert got == {"data": tmp_path / "share" / "geomatch",
                       "config": tmp_path / "config" / "geomatch",
                       "cache": tmp_path / "cache" / "geomatch",
                       "logs": tmp_path / "state" / "geomatch" / "log"}
    for p in got.values():
        assert p.is_dir()
        assert paths.PACKAGE_DIR not in p.resolve().parents


def test_basemap_is_found_shipped_first(monkeypatch, tmp_path):
    (tmp_path / "basemaps").mkdir()
    shipped = tmp_path / "basemaps" / paths.BASEMAP_FILE
    shipped.write_bytes(b"x")
    monkeypatch.setenv("GEOMATCH_RESOURCES", str(tmp_path))
    assert paths.basemap_file() == shipped


def test_nothing_shipped_lives_outside_the_package():
    """Resources and model cards/calibrations belong in geomatch_app/resources (else a wheel or
    bundle would miss them): a file added at the old top-level places fails here."""
    repo = paths.REPO_DIR
    if not (repo / "pyproject.toml").is_file():
        return  # an installed package: no checkout to inspect
    stray = [p.relative_to(repo).as_posix() for p in (repo / "resources").rglob("*")
             if p.is_file()] if (repo / "resources").is_dir() else []
    stray += [p.relative_to(repo).as_posix() for p in (repo / "models").glob("**/*")
              if p.is_file() and "finetuned" not in p.parts]
    assert not stray, f"move these into geomatch_app/resources/: {stray}"
