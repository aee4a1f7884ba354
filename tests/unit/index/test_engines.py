"""Descriptor engines: ONNX Runtime agrees with torch on real photos, exports are cached by
fingerprint and rebuilt when weights change, failures fall back to torch, BN folding is exact."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from geomatch_app.index import engines
from geomatch_app.index.extract import embed_paths, load_tensor

pytest.importorskip("onnxruntime")


@pytest.fixture
def tiny(tiny_model_name, one_torch_thread):
    from geomatch_app.models import get_model

    return get_model(tiny_model_name).eval()


def _photos(shared_data, n=None):
    from geomatch_app.data.gallery import load_photos

    m = shared_data / "vprtutorial_triplets" / "manifest.csv"
    q = load_photos(m, role="query").photos
    g = load_photos(m, role="gallery").photos
    return (q[:n] if n else q), g


def test_onnx_agrees_with_torch_on_real_photos(shared_data, one_torch_thread):
    """The day-one model: cosine >= 0.999 per photo and the same top-1 for every query."""
    from geomatch_app.models import get_model

    model = get_model("effnetlite2-gem").eval()
    q, g = _photos(shared_data, n=4)
    g = g[:12]  # the places of the first six triplets
    paths = [p.path for p in q + g]
    d_torch = embed_paths(model, paths, device="cpu", engine="torch")
    d_onnx = embed_paths(model, paths, device="cpu", engine="onnx")
    assert isinstance(engines.get_engine(model, "onnx"), engines.OnnxEngine)
    cos = np.sum(d_torch * d_onnx, axis=1)
    assert cos.min() >= 0.999
    nq = len(q)
    top_t = np.argmax(d_torch[:nq] @ d_torch[nq:].T, axis=1)
    top_o = np.argmax(d_onnx[:nq] @ d_onnx[nq:].T, axis=1)
    assert top_t.tolist() == top_o.tolist()
    # the torch engine (BN folded, channels_last) is the eager model's function too
    x = torch.stack([load_tensor(p, model.preprocess) for p in paths[:2]])
    with torch.inference_mode():
        eager = model(x).numpy()
    np.testing.assert_allclose(d_torch[:2], eager, atol=1e-4)


def test_export_cached_by_fingerprint_and_reused(tiny, tmp_path, monkeypatch):
    from geomatch_app.models import get_model

    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    fp_before = tiny.fingerprint()
    path = engines.export_onnx(tiny)
    assert path.parent == tmp_path / "onnx" and path.is_file()
    assert tiny.fingerprint() == fp_before  # exporting changes nothing an index depends on

    calls = []
    real = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: calls.append(1) or real(*a, **k))
    same = get_model(tiny.name).eval()  # another instance, same weights
    assert engines.export_onnx(same) == path
    assert calls == []  # read from the cache, not exported again

    with torch.no_grad():
        same.head.p.fill_(4.0)
    other = engines.export_onnx(same)
    assert other != path and calls == [1]
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted([path.name,
                                                                            other.name])


def test_engine_rebuilt_when_weights_change_in_place(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    x = torch.rand(2, 3, 32, 32)
    eng = engines.get_engine(tiny, "onnx")
    assert engines.get_engine(tiny, "onnx") is eng
    before = eng(x)
    with torch.no_grad():
        tiny.backbone[0].weight.mul_(-1.0)  # what an optimiser step does
    eng2 = engines.get_engine(tiny, "onnx")
    assert eng2 is not eng
    with torch.inference_mode():
        ref = tiny(x).numpy()
    np.testing.assert_allclose(eng2(x), ref, atol=1e-5)
    assert not np.allclose(before, ref, atol=1e-3)


def test_failed_export_falls_back_to_torch(tiny, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))

    def boom(*a, **k):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", boom)
    with caplog.at_level(logging.WARNING):
        eng = engines.get_engine(tiny, "auto")
    assert isinstance(eng, engines.TorchEngine)
    assert "ONNX engine unavailable" in caplog.text and "unsupported operator" in caplog.text
    assert list((tmp_path / "onnx").glob("*")) == []  # no half-written file left behind


def test_export_that_disagrees_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    monkeypatch.setattr(engines, "MIN_COSINE", 1.5)  # no export can reach it
    with pytest.raises(RuntimeError, match="disagrees with torch"):
        engines.export_onnx(tiny)
    assert not list((tmp_path / "onnx").glob("*"))
    assert isinstance(engines.get_engine(tiny, "onnx"), engines.TorchEngine)


def test_damaged_cache_file_is_exported_again(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    path = engines.export_onnx(tiny)
    path.write_bytes(b"not a model")
    eng = engines.OnnxEngine(tiny)
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        np.testing.assert_allclose(eng(x), tiny(x).numpy(), atol=1e-5)
    assert path.stat().st_size > 1000


def test_engine_choice_and_fallbacks(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    assert isinstance(engines.get_engine(tiny), engines.OnnxEngine)  # auto on the CPU
    assert isinstance(engines.get_engine(tiny, "torch"), engines.TorchEngine)
    monkeypatch.setenv(engines.ENGINE_ENV, "torch")
    assert isinstance(engines.get_engine(tiny), engines.TorchEngine)
    engines.set_default_engine("onnx")
    assert isinstance(engines.get_engine(tiny), engines.OnnxEngine)
    with pytest.raises(ValueError, match="unknown engine"):
        engines.set_default_engine("tensorrt")
    with pytest.raises(ValueError, match="unknown engine"):
        engines.get_engine(tiny, "tensorrt")
    monkeypatch.setattr(engines, "onnx_available", lambda: False)
    assert isinstance(engines.get_engine(tiny, "onnx"), engines.TorchEngine)


def test_cli_engine_choices_match_engines():
    import argparse

    from geomatch_app.commands import index as index_cmd
    from geomatch_app.commands import query as query_cmd

    for cmd, argv in ((index_cmd, ["index", "SRC", "--index", "D"]),
                      (query_cmd, ["query", "P", "--index", "D"])):
        ap = argparse.ArgumentParser()
        cmd.add_parser(ap.add_subparsers())
        assert ap.parse_args(argv).engine is None
        for name in engines.ENGINES:
            assert ap.parse_args([*argv, "--engine", name]).engine == name
        with pytest.raises(SystemExit):
            ap.parse_args([*argv, "--engine", "tensorrt"])


def test_batchnorm_folding_is_exact_and_leaves_the_model_alone(one_torch_thread):
    from geomatch_app.models.layers import GeM
    from geomatch_app.models.place import PlaceModel

    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16))
    for bn in (body[1], body[4]):  # non-trivial running statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    model = PlaceModel(body, GeM(), dim=16).eval()
    eng = engines.TorchEngine(model, torch.device("cpu"))
    folded = [m for m in eng.module.modules() if isinstance(m, nn.BatchNorm2d)]
    assert folded == []  # BN gone from the engine's copy ...
    assert isinstance(model.backbone[1], nn.BatchNorm2d)  # ... and still in the model
    x = torch.rand(3, 3, 20, 20)
    with torch.inference_mode():
        ref = model(x).numpy()
    np.testing.assert_allclose(eng(x), ref, atol=1e-5)


def test_engine_cache_does_not_keep_models_alive(tiny, tmp_path, monkeypatch):
    import gc
    import weakref

    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    from geomatch_app.models import get_model

    model = get_model(tiny.name).eval()
    engines.get_engine(model, "onnx")
    engines.get_engine(model, "torch")
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_export_in_a_child_process_when_asked(tiny, tmp_path, monkeypatch):
    """GEOMATCH_EXPORT_PROCESS=1 (the window sets it): the export and its check against torch
    run in a child process, so this process's torch.onnx.export is never called; the file is
    the same usable export."""
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    monkeypatch.setenv(engines.EXPORT_PROCESS_ENV, "1")

    def not_here(*a, **k):
        raise AssertionError("exported in the parent process")

    monkeypatch.setattr(torch.onnx, "export", not_here)
    path = engines.export_onnx(tiny)
    assert path.is_file() and [p.name for p in (tmp_path / "onnx").iterdir()] == [path.name]
    eng = engines.OnnxEngine(tiny)
    x = torch.randn(2, 3, tiny.preprocess.size, tiny.preprocess.size)
    with torch.inference_mode():
        ref = tiny(x).numpy()
    np.testing.assert_allclose(eng(x), ref, atol=1e-4)


def test_child_export_failure_is_reported_and_leaves_nothing(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    monkeypatch.setenv(engines.EXPORT_PROCESS_ENV, "1")
    monkeypatch.setattr(engines, "MIN_COSINE", 1.5)  # handed to the child: no export passes
    with pytest.raises(RuntimeError, match="disagrees with torch"):
        engines.export_onnx(tiny)
    assert list((tmp_path / "onnx").iterdir()) == []  # no export, no temporary folder


def test_model_that_cannot_be_pickled_is_exported_in_process(tiny, tmp_path, monkeypatch,
                                                              caplog):
    monkeypatch.setenv("GEOMATCH_CACHE", str(tmp_path))
    monkeypatch.setenv(engines.EXPORT_PROCESS_ENV, "1")
    tiny.unpicklable = lambda: None  # a lambda attribute: torch.save cannot pickle the model
    with caplog.at_level(logging.WARNING):
        path = engines.export_onnx(tiny)
    assert path.is_file() and "cannot be pickled" in caplog.text
