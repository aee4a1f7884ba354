"""The bad-input matrix of issue 17 on the command line: every subcommand with each class of bad
argument ends in one message on stderr — exit 2 for usage errors, 1 for failures — and never a
traceback. docs/reliability.md lists the same matrix with its outcomes.

Runs ``main(argv)`` in-process (fast; the tiny test model is registered here), plus a few real
``geomatch`` subprocesses to prove the installed entry point behaves the same.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from geomatch_app.cli import main

NAN = "nan"


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean(rc: int, err: str, want_rc: int, words: str) -> None:
    assert rc == want_rc, err
    assert "Traceback" not in err and "unexpected" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("geomatch"), err  # "geomatch: error: …" / "geomatch CMD: error: …"
    assert words in last, last


@pytest.fixture
def env(tmp_path, shared_data):
    """A photo, a manifest, a database with one confirmation."""
    photo = shared_data / "fordham_places" / "images" / "p0_i0.jpg"
    db = tmp_path / "c.sqlite"
    assert main(["confirm", "--db", str(db), "--query", str(photo), "--lat", "40.86",
                 "--lon", "-73.88"]) == 0
    return {"photo": photo, "manifest": shared_data / "fordham_places" / "manifest.csv",
            "db": db, "tmp": tmp_path}


def _usage_cases(e: dict) -> list[tuple[str, list, str]]:
    p, m, db, t = e["photo"], e["manifest"], e["db"], e["tmp"]
    idx = t / "idx"
    return [
        # --model typo (was a KeyError traceback)
        ("index model typo", ["index", m, "--index", idx, "--model", "effnetlite2-gen"],
         "unknown model 'effnetlite2-gen'"),
        ("train model typo", ["train", "--manifest", m, "--model", "resnet18-gme"],
         "unknown model"),
        ("init-netvlad model typo", ["models", "init-netvlad", "nope", m, "--out", t / "o"],
         "unknown model"),
        # --device banana / cuda:7
        ("index device banana", ["index", m, "--index", idx, "--device", "banana"],
         "argument --device: must be auto, cpu, cuda or cuda:N"),
        ("query device banana", ["query", p, "--index", idx, "--device", "banana"], "--device"),
        ("eval device banana", ["eval", "--queries", m, "--index", idx, "--device", "BANANA"],
         "--device"),
        ("train device banana", ["train", "--manifest", m, "--device", "gpu0"], "--device"),
        # numbers out of range
        ("index batch -1", ["index", m, "--index", idx, "--batch-size", "-1"],
         "argument --batch-size: must be a whole number ≥ 1, not -1"),
        ("index batch 0", ["index", m, "--index", idx, "--batch-size", "0"], "--batch-size"),
        ("index batch text", ["index", m, "--index", idx, "--batch-size", "four"],
         "must be a whole number, not 'four'"),
        ("index workers -2", ["index", m, "--index", idx, "--workers", "-2"],
         "argument --workers: must be a whole number ≥ 0, not -2"),
        ("query k 0", ["query", p, "--index", idx, "-k", "0"], "argument -k"),
        ("query sigma 0", ["query", p, "--index", idx, "--sigma-km", "0"],
         "argument --sigma-km: must be a number > 0, not 0"),
        ("query sigma nan", ["query", p, "--index", idx, "--sigma-km", NAN],
         "argument --sigma-km: must be a finite number"),
        ("query sigma -inf", ["query", p, "--index", idx, "--sigma-km=-inf"], "--sigma-km"),
        ("eval sigma nan", ["eval", "--queries", m, "--index", idx, "--sigma-km", NAN],
         "--sigma-km"),
        ("eval sigma 0", ["eval", "--queries", m, "--index", idx, "--sigma-km", "0"],
         "--sigma-km"),
        ("eval threshold -5", ["eval", "--queries", m, "--index", idx, "--threshold", "-5"],
         "--threshold"),
        ("eval m nan", ["eval", "--queries", m, "--index", idx, "-m", NAN], "argument -m"),
        ("eval geocell 0", ["eval", "--queries", m, "--index", idx, "--geocell-size", "0"],
         "--geocell-size"),
        ("train batch -1", ["train", "--manifest", m, "--batch-size", "-1"], "--batch-size"),
        ("train lr 0", ["train", "--manifest", m, "--lr", "0"], "--lr"),
        ("train alpha -1", ["train", "--manifest", m, "--alpha", "-1"], "--alpha"),  # a weight ≥ 0
        ("train val 1", ["train", "--manifest", m, "--val-fraction", "1"], "--val-fraction"),
        ("train epochs nan", ["train", "--manifest", m, "--epochs", NAN], "--epochs"),
        ("init clusters 0", ["models", "init-netvlad", "resnet18-netvlad", m, "--out", t / "o",
                             "--clusters", "0"], "--clusters"),
        # confirm: positions, heading, empty names
        ("confirm lat 200", ["confirm", "--db", db, "--query", p, "--lat", "200", "--lon", "0"],
         "argument --lat: must be a latitude in -90..90 degrees, not 200"),
        ("confirm lon 500", ["confirm", "--db", db, "--query", p, "--lat", "1", "--lon", "500"],
         "argument --lon: must be a longitude"),
        ("confirm lat nan", ["confirm", "--db", db, "--query", p, "--lat", NAN, "--lon", "1"],
         "--lat"),
        ("confirm heading nan", ["confirm", "--db", db, "--query", p, "--lat", "1", "--lon", "2",
                                 "--heading", NAN], "argument --heading: must be a finite"),
        ("confirm candidate empty", ["confirm", "--db", db, "--query", p, "--candidate", ""],
         "argument --candidate: must not be empty"),
        ("confirm query empty", ["confirm", "--db", db, "--query", " ", "--lat", "1", "--lon",
                                 "2"], "argument --query: must not be empty"),
        ("confirm status", ["confirm", "--db", db, "--query", p, "--lat", "1", "--lon", "2",
                            "--status", "maybe"], "argument --status"),
        # export / db / no action / unknown option
        ("export out empty", ["export", "--db", db, "--out", "", "--format", "geojson"],
         "argument --out: must not be empty"),
        ("export format", ["export", "--db", db, "--out", t / "e", "--format", "xml"],
         "argument --format"),
        ("db no action", ["db"], "required: ACTION"),
        ("unknown option", ["index", m, "--index", idx, "--fast"], "unrecognized arguments"),
        ("unknown command", ["frobnicate"], "invalid choice"),
    ]


def test_usage_errors_exit_2_with_one_message(env, capsys, tiny_model_name):
    for label, argv, words in _usage_cases(env):
        rc, _, err = run_cli(capsys, argv)
        try:
            assert_clean(rc, err, 2, words)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
    assert not (env["tmp"] / "idx").exists() and not (env["tmp"] / "o").exists()  # no work


def test_cuda_without_a_gpu_is_a_usage_error(env, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        rc, _, err = run_cli(capsys, ["query", env["photo"], "--index", env["tmp"] / "i",
                                      "--device", "cuda:99"])
        assert_clean(rc, err, 2, "there is no GPU cuda:99")
        return
    for argv in (["index", env["manifest"], "--index", env["tmp"] / "i", "--device", "cuda"],
                 ["query", env["photo"], "--index", env["tmp"] / "i", "--device", "cuda:0"],
                 ["train", "--manifest", env["manifest"], "--device", "cuda"]):
        rc, _, err = run_cli(capsys, argv)
        assert_clean(rc, err, 2, "no CUDA GPU is available on this machine; use --device cpu")


def test_failures_exit_1_naming_the_file(env, capsys, tiny_model_name):
    t, db, p = env["tmp"], env["db"], env["photo"]
    other = t / "photos.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE albums (id INTEGER)")
    conn.commit()
    conn.close()
    junk = t / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 64)
    idx = t / "tiny-idx"
    gallery = t / "gallery"
    gallery.mkdir()
    for name in ("p0_i1.jpg", "p1_i1.jpg"):
        (gallery / name).write_bytes((p.parent / name).read_bytes())
    assert main(["index", str(gallery), "--index", str(idx), "--model", tiny_model_name,
                 "--device", "cpu"]) == 0
    (t / "a_file").write_text("x")
    fifo = t / "pipe.jpg"
    os.mkfifo(fifo)
    cases = [
        (["index", t / "nothing", "--index", t / "i2", "--model", tiny_model_name],
         f"{t / 'nothing'}: does not exist"),
        (["query", t / "missing.jpg", "--index", idx], "missing.jpg: file not found"),
        (["query", fifo, "--index", idx], "pipe.jpg: is a pipe (FIFO)"),
        (["query", p, "--index", t / "no-index"], "no-index"),
        (["eval", "--queries", t / "q.csv", "--index", idx], "q.csv: does not exist"),
        (["confirm", "--db", other, "--query", p, "--lat", "1", "--lon", "2"],
         "photos.db: is an SQLite database of another program"),
        (["confirm", "--db", junk, "--query", p, "--lat", "1", "--lon", "2"],
         "junk.sqlite: is not a geomatch database"),
        (["confirm", "--db", t, "--query", p, "--lat", "1", "--lon", "2"], "is not a file"),
        (["confirm", "--db", t / "a_file" / "c.sqlite", "--query", p, "--lat", "1", "--lon",
          "2"], "cannot create its folder"),
        (["confirm", "--db", db, "--query", p, "--lat", "1"], "--lat needs --lon"),
        (["undo", "--db", t / "none.sqlite"], "none.sqlite: does not exist"),
        (["history", "--db", db, "--query", t / "other.jpg"], "other.jpg: is not in the"),
        (["export", "--db", t / "none.sqlite", "--out", t / "e", "--format", "geojson"],
         "none.sqlite: does not exist"),
        (["export", "--db", db, "--out", t / "a_file", "--format", "geojson"],
         "a_file: is not a folder"),
        (["export", "--db", db, "--out", t / "a_file" / "sub", "--format", "geojson"],
         "cannot be created"),
        (["db", "check", t / "cur#1.sqlite"], "cur#1.sqlite: does not exist"),
        (["db", "backup", db, t / "a_file"], "a_file: exists"),
        (["db", "init", other], "another program"),
        (["train", "--manifest", t / "m.csv", "--model", tiny_model_name, "--out", t / "m"],
         "m.csv: does not exist"),
    ]
    for argv, words in cases:
        rc, _, err = run_cli(capsys, argv)
        try:
            assert_clean(rc, err, 1, words)
        except AssertionError as exc:
            raise AssertionError(f"{argv}: {exc}") from None
    assert not (t / "cur").exists()


def test_db_check_on_a_damaged_file_lists_problems(env, capsys):
    junk = env["tmp"] / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    rc, _, err = run_cli(capsys, ["db", "check", junk])
    assert rc == 1 and "Traceback" not in err and "problem" in err


def test_unexpected_error_is_one_line_and_says_bug(env, capsys, monkeypatch):
    """The last line of defence: a bug is reported as such, the traceback only with -vv."""
    from geomatch_app.commands import curate

    def boom(args):
        raise RuntimeError("kaputt\nsecond line")

    monkeypatch.setattr(curate, "run_undo", boom)
    rc, _, err = run_cli(capsys, ["undo", "--db", env["db"]])
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: kaputt second line" in err and "-vv" in err
    rc, _, err = run_cli(capsys, ["-vv", "undo", "--db", env["db"]])
    assert rc == 1 and "Traceback" in err


def test_os_error_names_the_file(env, capsys, monkeypatch):
    from geomatch_app.commands import curate

    def full(args):
        raise OSError(28, "No space left on device", str(env["tmp"] / "out.json"))

    monkeypatch.setattr(curate, "run_undo", full)
    rc, _, err = run_cli(capsys, ["undo", "--db", env["db"]])
    assert_clean(rc, err, 1, "out.json: No space left on device")


def _geomatch(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run([sys.executable, "-m", "geomatch_app.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_real_entry_point(env):
    t = env["tmp"]
    for argv, code, words in [
        (["index", env["manifest"], "--index", t / "i", "--batch-size", "-1"], 2, "--batch-size"),
        (["confirm", "--db", env["db"], "--query", env["photo"], "--lat", "200", "--lon", "0"],
         2, "--lat"),
        (["confirm", "--db", t / "photos", "--query", env["photo"], "--lat", "1", "--lon", "2",
          "--heading", NAN], 2, "--heading"),
        (["export", "--db", t / "none.sqlite", "--out", t / "e", "--format", "pairs"], 1,
         "does not exist"),
    ]:
        proc = _geomatch(*argv)
        assert_clean(proc.returncode, proc.stderr, code, words)
