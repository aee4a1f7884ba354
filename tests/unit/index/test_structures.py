"""Search structures: flat is exact (checked against a numpy reference), HNSW and re-ranked
IVF-PQ agree with it, PCA-whitening is the transform it claims, the automatic rule holds."""

from __future__ import annotations

import numpy as np
import pytest
from index_helpers import fingerprint, records

from geomatch_app.core.errors import GeomatchError
from geomatch_app.index import Index, IndexOptions, choose_type, write_index
from geomatch_app.index.structures import (
    build,
    choose_nlist,
    choose_nprobe,
    choose_pq_m,
    exact_search,
)

D = 32


def clustered(n: int, seed: int = 0, d: int = D) -> np.ndarray:
    """Unit vectors around 60 centres: like place descriptors, many near neighbours."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((60, d))
    x = centres[rng.integers(0, 60, n)] + 0.35 * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_matches_numpy_reference():
    g, q = clustered(70_000), clustered(5, seed=1)  # > one 32k chunk
    s, i = exact_search(g, q, 10)
    ref = q @ g.T
    ref_i = np.argsort(-ref, axis=1)[:, :10]
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, np.take_along_axis(ref, ref_i, 1), atol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq", "ivffs", "hnswpca"])
def test_approximate_types_agree_with_flat(kind):
    g, q = clustered(3000), clustered(200, seed=1)
    store = g.astype(np.float16) if kind != "hnsw" else g
    st = build(store, IndexOptions(type=kind))
    assert st.type == kind and st.index is not None
    s, i = st.search(q, 10)
    _, ref = exact_search(np.asarray(store, dtype=np.float32), q, 10)
    top1 = np.mean(i[:, 0] == ref[:, 0])
    assert top1 >= 0.97, top1
    if kind != "hnsw":  # re-ranked: the scores are exact inner products with the store
        exact = np.einsum("qd,qkd->qk", q, np.asarray(store, np.float32)[i])
        np.testing.assert_allclose(s, exact, atol=1e-5)
    if kind == "ivfpq":
        assert st.params["opq"] and st.params["factory"].startswith("OPQ")
    if kind == "ivffs":  # 32-d is below REDUCE_DIM: no projection; 2 dims per sub-quantiser
        assert st.params["factory"].endswith(",PQ16x4fsr") and st.reduce is None
        assert st.params["nprobe"] == st.params["nlist"] // 2


def test_ivffs_codes_are_residuals_and_estimate_distances_closer_than_plain_codes():
    """ivffs encodes each vector's residual from its list centroid ("x4fsr"). faiss's plain
    "x4fs" codes encode the vector itself; at 1M photos they kept 0.87 of flat's top-10 in the
    256-shortlist against 0.98 (docs/performance.md). Here: the estimated squared distances of
    residual codes are closer to the exact ones than plain codes' on the same data."""
    import faiss

    g, q = clustered(4000), clustered(20, seed=1)
    st = build(g.astype(np.float16), IndexOptions(type="ivffs", nlist=32, nprobe=32))
    ivf = faiss.extract_index_ivf(st.index)
    assert ivf.by_residual and st.params["factory"] == "IVF32,PQ16x4fsr"
    plain = faiss.index_factory(D, "IVF32,PQ16x4fs", faiss.METRIC_L2)
    assert not faiss.extract_index_ivf(plain).by_residual
    plain.train(g)
    plain.add(g)
    faiss.extract_index_ivf(plain).nprobe = 32
    g32 = np.asarray(g.astype(np.float16), np.float32)

    def error(index):
        dist, ids = index.search(q, 50)
        exact = ((q[:, None, :] - g32[ids]) ** 2).sum(-1)
        return float(np.mean(np.abs(dist - exact)))

    assert error(st.index) < 0.7 * error(plain), (error(st.index), error(plain))


def test_ivffs_finds_the_shortlist_in_a_pca_projection():
    """Above REDUCE_DIM the shortlist comes from a PCA rotation (no whitening) of the
    descriptors; the final scores are still exact inner products in the full dimension."""
    from geomatch_app.index import structures

    d = 300  # descriptors whose variance lies in 256 rotated directions (plus a trace)
    rot = np.linalg.qr(np.random.default_rng(7).standard_normal((d, d)))[0][:256]
    g = clustered(4000, d=256) @ rot + 1e-3 * np.random.default_rng(8).standard_normal((4000, d))
    q = clustered(50, seed=1, d=256) @ rot
    g = (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)
    q = q.astype(np.float32)
    # every list and a long shortlist: what is checked is projection + codes + re-ranking
    # (4000 photos train 128 codebooks poorly; the nprobe rule is checked above)
    st = build(g.astype(np.float16), IndexOptions(type="ivffs", nlist=16, nprobe=16,
                                                  rerank=1000, reduce=256))
    assert st.reduce is not None and st.reduce.d_out == 256
    assert st.params["factory"] == "IVF16,PQ128x4fsr" and st.params["reduce"] == 256
    # the projection is the PCA rotation: centred, top-256 eigenvectors, no scaling
    mean = g.mean(0)
    w, v = np.linalg.eigh(np.cov((g - mean).T, bias=True))
    top = np.argsort(w)[::-1][:structures.REDUCE_DIM]
    ref = (g[:4] - mean) @ v[:, top]
    got = st.reduce.apply(g[:4])
    np.testing.assert_allclose(np.abs(got[:, :20]), np.abs(ref[:, :20]), atol=2e-3)
    s, i = st.search(q, 10)
    _, truth = exact_search(np.asarray(g.astype(np.float16), np.float32), q, 10)
    assert np.mean(i[:, 0] == truth[:, 0]) >= 0.98
    np.testing.assert_allclose(s[:, 0], np.einsum("qd,qd->q", q, np.asarray(
        g.astype(np.float16), np.float32)[i[:, 0]]), atol=1e-5)


def test_ivffs_reduces_to_192_dimensions_by_default_and_checks_reduce():
    """The default ivffs shortlist space is IVFFS_REDUCE_DIM (192) PCA dimensions with two per
    4-bit sub-quantiser; --reduce must be a positive multiple of 4."""
    from geomatch_app.index import structures

    rng = np.random.default_rng(3)
    g = rng.standard_normal((3000, 300)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    st = build(g.astype(np.float16), IndexOptions(type="ivffs", nlist=16))
    assert structures.IVFFS_REDUCE_DIM == 192 and st.reduce.d_out == 192
    assert st.params["factory"] == "IVF16,PQ96x4fsr" and st.params["reduce"] == 192
    for bad in (0, 6, -4):
        with pytest.raises(GeomatchError, match="multiple of 4"):
            build(g.astype(np.float16), IndexOptions(type="ivffs", reduce=bad))
        with pytest.raises(GeomatchError, match="multiple of 4"):  # before any embedding
            IndexOptions(reduce=bad)


def test_ivffs_shares_one_querys_lists_among_threads():
    """One query (fewer than the threads): faiss's list-splitting fast-scan search; a batch:
    one query per thread. Results are the same either way."""
    import faiss

    from geomatch_app.index import structures

    g, q = clustered(3000), clustered(8, seed=1)
    st = build(g.astype(np.float16), IndexOptions(type="ivffs", nlist=16, nprobe=8))
    ivf = faiss.downcast_index(faiss.extract_index_ivf(st.index))
    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(2)
        one = [st.search(row[None], 10)[1][0] for row in q]
        assert ivf.implem == structures.IVFFS_SPLIT_IMPLEM
        _, batch = st.search(q, 10)
        assert ivf.implem == 0
    finally:
        faiss.omp_set_num_threads(threads)
    np.testing.assert_array_equal(np.stack(one), batch)


def test_hnswpca_searches_a_graph_in_the_pca_rotation_and_reranks_exactly(tmp_path):
    """hnswpca: the shortlist from an HNSW graph over the 256-d PCA rotation, exact scores in
    the full dimension, the graph's parameters kept, and a save/load round trip."""
    from geomatch_app.index import structures

    d = 300
    rot = np.linalg.qr(np.random.default_rng(7).standard_normal((d, d)))[0][:256]
    g = clustered(3000, d=256) @ rot + 1e-3 * np.random.default_rng(8).standard_normal((3000, d))
    g = (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float16)
    q = (clustered(50, seed=1, d=256) @ rot).astype(np.float32)
    st = build(g, IndexOptions(type="hnswpca"))
    assert st.reduce is not None and st.reduce.d_out == structures.REDUCE_DIM
    assert st.index.d == structures.REDUCE_DIM and st.index.ntotal == 3000
    assert st.params["ef_search"] == structures.HNSWPCA_EF_SEARCH
    assert st.params["ef_construction"] == structures.HNSWPCA_EF_CONSTRUCTION
    s, i = st.search(q, 10)
    full = np.asarray(g, np.float32)
    _, truth = exact_search(full, q, 10)
    assert np.mean(i[:, 0] == truth[:, 0]) >= 0.98
    np.testing.assert_allclose(s, np.einsum("qd,qkd->qk", q, full[i]), atol=1e-5)
    np.save(tmp_path / structures.STORE_FILE, g)
    st.save(tmp_path)
    back = structures.Structure.load(tmp_path, st.params, 3000, d)
    assert back.type == "hnswpca" and back.search(q, 10)[1].tolist() == i.tolist()


def test_pca_whitening_is_the_learned_projection_renormalised():
    g = clustered(3000)
    st = build(g, IndexOptions(type="flat", pca=8))
    assert st.index.d == 8 and st.params["space_dim"] == 8
    # reference: centre, project on the top-8 eigenvectors, divide by sqrt(eigenvalue), L2
    mean = g.mean(0)
    cov = np.cov((g - mean).T, bias=True)
    w, v = np.linalg.eigh(cov)
    top = np.argsort(w)[::-1][:8]
    y = (g[:5] - mean) @ v[:, top] / np.sqrt(w[top])
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    got = st.transform(g[:5])
    np.testing.assert_allclose(np.abs(got), np.abs(y), atol=2e-3)  # eigenvector signs differ
    s, i = st.search(g[:3], 1)
    np.testing.assert_array_equal(i[:, 0], [0, 1, 2])
    with pytest.raises(GeomatchError, match="--pca"):
        build(g, IndexOptions(pca=D))
    with pytest.raises(GeomatchError, match="at least 16 photos"):
        build(g[:10].astype(np.float16), IndexOptions(type="ivffs"))


def test_automatic_rule():
    assert [choose_type(n) for n in (0, 9_999, 10_000, 99_999, 100_000, 10**6)] == \
        ["flat", "flat", "hnsw", "hnsw", "ivffs", "ivffs"]
    assert choose_nlist(10**6) == 1024 and choose_nlist(100_000) == 256
    assert choose_nprobe(256) == 64 and choose_nprobe(32) == 16 and choose_nprobe(8) == 8
    assert choose_pq_m(1280) == 64 and choose_pq_m(32) == 8 and 256 % choose_pq_m(256) == 0


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq", "ivffs"])
def test_each_type_round_trips_through_a_generation(tmp_path, kind):
    g = clustered(3000)
    fp = {**fingerprint(D)}
    write_index(tmp_path / "idx", g, records(5, 3000), fp,
                IndexOptions(type=kind, pca=16 if kind == "hnsw" else None))
    idx = Index.open(tmp_path / "idx")
    assert idx.index_type == kind and len(idx) == 3000
    store = idx.structure.store
    assert isinstance(store, np.memmap)
    assert store.dtype == (np.float16 if kind in ("ivfpq", "ivffs") else np.float32)
    np.testing.assert_allclose(idx.descriptors([5, 2999]), g[[5, 2999]], atol=1e-3)
    hits = idx.search(g[[10, 20, 30]], k=5)
    assert [h[0].path for h in hits] == [f"/photos/set5/{i}.jpg" for i in (10, 20, 30)]
    assert [c.rank for c in hits[0]] == [1, 2, 3, 4, 5]
