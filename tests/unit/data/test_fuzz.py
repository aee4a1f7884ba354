"""Property-based fuzzing of the image loader, the EXIF/GPS parser and the manifest reader on
mutated real files (see fuzz_targets.py). Bounded for CI: a fixed number of examples per target,
derandomised so a failure reproduces; benchmarks/fuzz_inputs.py runs the same targets longer.
"""

from __future__ import annotations

import itertools
import os

import pytest
from fuzz_targets import (
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from geomatch_app.data import images

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on broken tags

N = int(os.environ.get("GEOMATCH_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
_names = itertools.count()


@pytest.fixture(scope="module")
def corpus(shared_data):
    return load_corpus(shared_data)


@pytest.fixture(scope="module")
def work(tmp_path_factory, corpus, shared_data):
    folder = tmp_path_factory.mktemp("fuzz")
    for rel in corpus.manifest_images:  # the manifest's images, beside it
        src = shared_data / "fordham_places" / rel
        if src.is_file():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(src.read_bytes())
    return folder


@pytest.fixture(autouse=True)
def small_pixel_limit(monkeypatch):
    """A mutated header can declare 20 000 × 20 000 pixels; the limit keeps each example fast
    (and exercises the refusal path)."""
    monkeypatch.setattr(images, "MAX_PIXELS", 4_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000_000)


def _runs(fn, calls: list) -> None:
    """Run a @given function and check it really tried N inputs (not a vacuous pass)."""
    fn()
    assert len(calls) >= N, f"only {len(calls)} examples ran"


def _write(folder, name: str, data: bytes):
    path = folder / f"{next(_names):06d}_{name}"
    path.write_bytes(data)
    return path


def test_corpus_is_real(corpus):
    assert len(corpus.images) >= 12 and corpus.manifest.startswith("path,")


@pytest.mark.parametrize("check", [check_load_image, check_read_geotag],
                         ids=["image_loader", "geotag_reader"])
def test_image_readers_on_mutants(corpus, work, check):
    calls: list = []

    @FUZZ
    @given(image_mutants(corpus))
    def run(mutant):
        calls.append(1)
        name, data = mutant
        path = _write(work, name, data)
        try:
            check(path)
        finally:
            path.unlink()

    _runs(run, calls)


@FUZZ
@given(gps_ifds)
def test_gps_parser_on_any_ifd(ifd):
    check_parse_gps(ifd)


def test_gps_ifd_with_any_tiff_types(work):
    calls: list = []

    @FUZZ
    @given(gps_entries)
    def run(entries):
        calls.append(1)
        path = _write(work, "gps.jpg", gps_jpeg(entries))
        try:
            check_read_geotag(path)
            check_load_image(path)
        finally:
            path.unlink()

    _runs(run, calls)


def test_manifest_reader_on_mutants(corpus, work):
    calls: list = []

    @FUZZ
    @given(manifest_mutants(corpus.manifest), st.sampled_from(["gallery", "query"]))
    def run(text, role):
        calls.append(1)
        path = work / f"{next(_names):06d}.csv"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            check_read_manifest(path, role)
        finally:
            path.unlink()

    _runs(run, calls)
