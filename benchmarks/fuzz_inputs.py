"""A longer fuzzing run of the image loader, the EXIF/GPS parser and the manifest reader than the
bounded one in tests/unit/data/test_fuzz.py: the same targets and mutation strategies
(tests/unit/data/fuzz_targets.py), random seeds, many more examples. Reports the corpus size, the
examples run, the time per target and every failure found (a failure is any exception other
than the module's own ImageError / ManifestError, or a malformed result).

Usage: python benchmarks/fuzz_inputs.py [--examples 3000] [--seed N]
Writes benchmarks/results/fuzz_inputs.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "data"))

from fuzz_targets import (  # noqa: E402
    check_load_image,
    check_parse_gps,
    check_read_geotag,
    check_read_manifest,
    gps_entries,
    gps_ifds,
    gps_jpeg,
    image_mutants,
    load_corpus,
    manifest_mutants,
)
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hseed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from geomatch_app.core.paths import shared_data_dir  # noqa: E402
from geomatch_app.data import images  # noqa: E402


def run_target(name: str, strategy, check, examples: int, seed: int) -> dict:
    failures: list[str] = []
    count = itertools.count()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def body(value):
        next(count)
        try:
            check(value)
        except Exception:  # noqa: BLE001 - recorded, the run goes on
            failures.append(traceback.format_exc(limit=-3))

    t0 = time.perf_counter()
    hseed(seed)(body)()
    seconds = time.perf_counter() - t0
    n = next(count)
    unique = sorted(set(f.strip().splitlines()[-1] for f in failures))
    return {"target": name, "examples": n, "seconds": round(seconds, 2),
            "examples_per_s": round(n / seconds, 1), "failures": len(failures),
            "distinct_failures": unique}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=3000, help="examples per target")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    shared = shared_data_dir()
    if shared is None:
        sys.exit("../shared/data is not present beside the checkout")
    warnings.simplefilter("ignore")  # Pillow warns on every broken tag
    logging.disable(logging.WARNING)  # and so does geomatch, once per invalid GPS block
    images.MAX_PIXELS = Image.MAX_IMAGE_PIXELS = 4_000_000
    corpus = load_corpus(shared)
    work = Path(tempfile.mkdtemp(prefix="geomatch-fuzz-"))
    for rel in corpus.manifest_images:
        src = shared / "fordham_places" / rel
        if src.is_file():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_bytes(src.read_bytes())
    names = itertools.count()

    def on_file(check):
        def run(mutant):
            name, data = mutant
            path = work / f"{next(names):07d}_{name}"
            path.write_bytes(data)
            try:
                check(path)
            finally:
                path.unlink()
        return run

    def on_gps_jpeg(entries):
        on_file(lambda p: (check_read_geotag(p), check_load_image(p)))(
            ("gps.jpg", gps_jpeg(entries)))

    def on_manifest(value):
        text, role = value
        path = work / f"{next(names):07d}.csv"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            check_read_manifest(path, role)
        finally:
            path.unlink()

    targets = [
        ("load_image (mutated files)", image_mutants(corpus), on_file(check_load_image)),
        ("read_geotag (mutated files)", image_mutants(corpus), on_file(check_read_geotag)),
        ("parse_gps_ifd (any IFD)", gps_ifds, check_parse_gps),
        ("read_geotag + load_image (GPS IFD of any TIFF type)", gps_entries, on_gps_jpeg),
        ("read_manifest (mutated manifest)",
         st.tuples(manifest_mutants(corpus.manifest), st.sampled_from(["gallery", "query"])),
         on_manifest),
    ]
    results = []
    for name, strategy, check in targets:
        r = run_target(name, strategy, check, args.examples, args.seed)
        results.append(r)
        print(f"{name:<55} {r['examples']:>6} examples {r['seconds']:>7.1f} s "
              f"{r['examples_per_s']:>7.1f}/s  failures: {r['failures']}")
        for f in r["distinct_failures"]:
            print(f"    {f}")
    out = {
        "corpus": {"files": corpus.n_files, "bytes": corpus.n_bytes,
                   "images": [n for n, _ in corpus.images], "manifest": "fordham_places"},
        "examples_per_target": args.examples, "seed": args.seed,
        "total_seconds": round(sum(r["seconds"] for r in results), 1),
        "targets": results,
        "note": "shared 2-core machine; time is wall clock of this run",
    }
    dest = ROOT / "benchmarks" / "results" / "fuzz_inputs.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"corpus: {corpus.n_files} files, {corpus.n_bytes / 1024:.0f} KiB; "
          f"total {out['total_seconds']} s; wrote {dest}")


if __name__ == "__main__":
    main()
