"""The smoke test that scripts/build-app runs in the bundle also runs here, in-process."""

from __future__ import annotations

import json

from geomatch_app.gui import smoke


def test_smoke_ranks_the_demo_query(qapp, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GEOMATCH_HOME", str(tmp_path / "home"))  # restored after the test
    monkeypatch.setattr(smoke.tempfile, "mkdtemp", lambda prefix="": str(tmp_path / "smoke"))
    assert smoke.main(["--timeout", "240"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["candidates"] > 0 and "error" not in out
    assert out["query"].endswith("berlin_02.jpg")
    assert "berlin" in out["top"]  # the demo query's place is in Berlin
    assert out["ranked_s"] >= out["window_s"] > 0
    assert not (tmp_path / "smoke").exists()  # the throw-away home is removed


def test_gui_start_keeps_torch_from_spin_waiting(qapp, monkeypatch):
    """ensure_app sets OMP_WAIT_POLICY=PASSIVE (torch reads it when it is first imported)."""
    from geomatch_app.gui.app import ensure_app

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    ensure_app()
    assert smoke.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a user's own choice is kept
    ensure_app()
    assert smoke.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
