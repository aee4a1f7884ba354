"""`--engine ray` on a local Ray instance limited to 2 CPUs: the same descriptors (1e-5) and
the same top-k as the single-process path, for a flat and a sharded IVF-PQ index, and a rerun
after a failure embeds only the shards that were not finished."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'geomatch[scale]')")

from geomatch_app.cli import main  # noqa: E402
from geomatch_app.index import (  # noqa: E402
    Index,
    IndexOptions,
    build_index,
    ray_engine,
    write_index,
)


@pytest.fixture(scope="module")
def local_ray(pytestconfig):
    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "OMP_NUM_THREADS": "1"}})
    # the tiny test model is registered by tests/conftest.py; actors get that function by
    # value (found among pytest's plugins: another conftest may hold the name in sys.modules)
    top = str(Path(__file__).resolve().parents[1] / "conftest.py")
    conftest = next(m for m in pytestconfig.pluginmanager.get_plugins()
                    if getattr(m, "__file__", None) and str(Path(m.__file__).resolve()) == top)
    ray.cloudpickle.register_pickle_by_value(conftest)
    yield conftest._register_tiny  # what each actor runs first
    ray.shutdown()


@pytest.fixture
def manifest(shared_data):
    return shared_data / "opensfm_berlin_lund" / "manifest.csv"


def _same_rankings(a: Index, b: Index, k: int = 5) -> None:
    q = a.descriptors()
    ra, rb = a.search(q, k), b.search(q, k)
    for ca, cb in zip(ra, rb, strict=True):
        assert [c.path for c in ca] == [c.path for c in cb]
        np.testing.assert_allclose([c.score for c in ca], [c.score for c in cb], atol=1e-5)


def test_ray_equals_single_process_and_resumes_after_a_failure(
        tmp_path, manifest, tiny_model_name, local_ray, monkeypatch, one_torch_thread, caplog,
        capsys):
    def crash(*a, **kw):
        raise OSError("simulated crash after embedding")

    with monkeypatch.context() as m:  # run 1 dies after every shard was embedded
        m.setattr(ray_engine, "write_index", crash)
        with pytest.raises(OSError):
            ray_engine.build_index_ray(manifest, tmp_path / "ray", tiny_model_name, shards=4,
                                       device="cpu", worker_setup=local_ray)
    shard_dir = tmp_path / "ray" / "ray-shards"
    assert len(list(shard_dir.glob("shard-*.json"))) == 4
    assert not list(shard_dir.glob("*.tmp"))
    (shard_dir / "shard-00002.json").unlink()  # as if that shard had not finished
    # run 2 through the command line (actors register the tiny model first)
    real = ray_engine.build_index_ray
    monkeypatch.setattr(ray_engine, "build_index_ray",
                        lambda *a, **kw: real(*a, worker_setup=local_ray, **kw))
    with caplog.at_level(logging.INFO, logger="geomatch_app.index.ray_engine"):
        assert main(["index", str(manifest), "--index", str(tmp_path / "ray"), "--model",
                     tiny_model_name, "--device", "cpu", "--engine", "ray",
                     "--shards", "4"]) == 0
    assert "24 photos in 4 shards, 6 to embed (3 shards done before)" in caplog.text
    assert not shard_dir.exists()
    sharded = Index.open(tmp_path / "ray")
    photo = sharded.photo(7).path
    capsys.readouterr()
    assert main(["query", photo, "--index", str(tmp_path / "ray"), "--json", "-k", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["candidates"][0]["path"] == photo

    single = build_index(manifest, tmp_path / "single", model_name=tiny_model_name,
                         device="cpu", workers=0)
    assert [p.path for p in sharded.photos] == [p.path for p in single.photos]
    np.testing.assert_allclose(sharded.descriptors(), single.descriptors(), atol=1e-5)
    assert sharded.fingerprint["weight_hash"] == single.fingerprint["weight_hash"]
    _same_rankings(sharded, single)
    reopened = Index.open(tmp_path / "ray")  # an ordinary index
    assert len(reopened) == 24 and reopened.index_type == "flat"


def test_sharded_ivfpq_merged_on_disk_equals_one_process(tmp_path, local_ray):
    """Ray tasks add shards to copies of one trained IVF-PQ; merge_ondisk joins their lists."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    recs = [{"path": f"/p/{i}.jpg"} for i in range(len(x))]
    fp = {"name": "synthetic", "kwargs": {}, "weight_hash": "abc", "dim": 16, "preprocess": {}}
    opts = IndexOptions(type="ivfpq", opq=False)
    (tmp_path / "work").mkdir()
    write_index(tmp_path / "ray", x, recs, fp, opts,
                build_fn=ray_engine._sharded_ivfpq(ray, tmp_path / "work"))
    sharded = Index.open(tmp_path / "ray")
    assert sharded.structure.params["ondisk"]
    assert (tmp_path / "ray" / f"gen-{sharded.generation:06d}" / "index.ivfdata").is_file()
    write_index(tmp_path / "one", x, recs, fp, opts)
    _same_rankings(sharded, Index.open(tmp_path / "one"))
