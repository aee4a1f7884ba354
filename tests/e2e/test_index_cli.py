"""`geomatch index --index-type … --pca DIM` on real photos: every type answers `geomatch query`
with the gallery photo itself first, and the index reports the type it was built with."""

from __future__ import annotations

import json

import pytest

from geomatch_app.cli import main
from geomatch_app.index import Index


@pytest.mark.parametrize("kind,pca", [("flat", None), ("hnsw", "8"), ("ivfpq", None),
                                      ("ivffs", None)])
def test_index_types_from_the_command_line(tmp_path, shared_data, tiny_model_name, capsys,
                                           one_torch_thread, kind, pca):
    manifest = shared_data / "opensfm_berlin_lund" / "manifest.csv"
    out = tmp_path / "idx"
    argv = ["index", str(manifest), "--index", str(out), "--model", tiny_model_name,
            "--device", "cpu", "--workers", "0", "--index-type", kind]
    assert main(argv + (["--pca", pca] if pca else [])) == 0
    assert f"({kind} index)" in capsys.readouterr().out
    idx = Index.open(out)
    assert idx.index_type == kind and len(idx) == 24
    assert idx.structure.params["pca"] == (int(pca) if pca else None)
    photo = idx.photo(5).path
    assert main(["query", photo, "--index", str(out), "--json", "-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["candidates"][0]["path"] == photo
    assert result["candidates"][0]["score"] == pytest.approx(1.0, abs=1e-3)


def test_bad_pca_is_one_line(tmp_path, shared_data, tiny_model_name, capsys, one_torch_thread):
    manifest = shared_data / "opensfm_berlin_lund" / "manifest.csv"
    assert main(["index", str(manifest), "--index", str(tmp_path / "idx"), "--model",
                 tiny_model_name, "--device", "cpu", "--workers", "0", "--pca", "64"]) == 1
    err = capsys.readouterr().err
    assert "--pca 64" in err and "Traceback" not in err
