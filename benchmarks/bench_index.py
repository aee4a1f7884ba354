"""Indexing speed incl. file reading and JPEG decoding vs the pure model on pre-decoded tensors,
all measured in one run, plus the descriptor agreement that lets a faster path be the default.

Rows (ms per image, median over --repeats interleaved rounds, same threads for all):
- today: the path before this benchmark: full-size decode (draft only above 1024 px),
  eager torch, batch 4 (what embed_paths did);
- each engine (eager torch, torch with BatchNorm folded + channels_last, ONNX Runtime, and with
  --int8 ONNX Runtime dynamic int8) on pre-decoded tensors ("pure model") and through
  ``embed_paths`` (reading + draft decoding + the engine: what `geomatch index` runs).

Agreement (shared sets with a query/gallery split): min cosine between engines' descriptors
and whether every query's top-1 gallery photo is identical; the same for draft vs full decoding,
with R@1 of both.

Usage: python benchmarks/bench_index.py [--n 64] [--repeats 3] [--threads 1] [--int8]
Writes benchmarks/results/bench_index.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import machine, median, table, timed, write_json  # noqa: E402
from PIL import Image  # noqa: E402

from geomatch_app.core.paths import demo_manifest, shared_data_dir  # noqa: E402
from geomatch_app.data.gallery import load_photos  # noqa: E402
from geomatch_app.index import engines  # noqa: E402
from geomatch_app.index.extract import DRAFT_FACTOR, embed_paths, load_tensor  # noqa: E402
from geomatch_app.models import get_model  # noqa: E402

SPEED_SETS = ("fordham_places", "opensfm_berlin_lund", "vprtutorial_triplets", "old_photos",
              "arezzo_exif_gps")
AGREE_SETS = ("fordham_places", "vprtutorial_triplets", "opensfm_berlin_lund")
BATCH = 4


def photo_paths(n: int) -> list[str]:
    """Real JPEG photos: the shared sets (640 px originals and scans), else the demo gallery."""
    paths: list[str] = []
    root = shared_data_dir()
    if root is not None:
        for name in SPEED_SETS:
            paths += [str(p) for p in (root / name).rglob("*")
                      if p.suffix.lower() in (".jpg", ".jpeg")]
    if len(paths) < n:
        paths += [p.path for p in load_photos(demo_manifest()).photos]
    return sorted(paths)[:n]


def large_paths() -> list[str]:
    """The untouched camera originals (1–12 MP) and large odd files of the shared data."""
    root = shared_data_dir()
    if root is None:
        return []
    out = []
    for name in ("exif_gps_originals", "odd"):
        for p in sorted((root / name).rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg"):
                try:
                    with Image.open(p) as im:
                        if max(im.size) >= 1000:
                            out.append(str(p))
                except OSError:
                    pass
    return out


def today_tensor(path: str, pre) -> torch.Tensor:
    """The decode before draft_side: full size unless the JPEG is larger than 1024 px."""
    return load_tensor(path, pre, draft_factor=0)


def draft1_tensor(path: str, pre) -> torch.Tensor:
    return load_tensor(path, pre, draft_factor=1)


def batches(xs, size=BATCH):
    return [xs[i:i + size] for i in range(0, len(xs), size)]


def today_path(model, paths):
    with torch.inference_mode():
        for chunk in batches(paths):
            model(torch.stack([today_tensor(p, model.preprocess) for p in chunk]))


def pure(run, xb):
    for x in xb:
        run(x)


def eager(model):
    def run(x):
        with torch.inference_mode():
            return model(x).numpy()
    return run


def int8_engine(model, threads):
    import onnxruntime as ort
    from onnxruntime.quantization import quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = engines.export_onnx(model)
    tmp = Path(tempfile.mkdtemp())
    quant_pre_process(str(src), str(tmp / "pre.onnx"))
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # per-tensor notes of the quantiser
    try:
        quantize_dynamic(str(tmp / "pre.onnx"), str(tmp / "int8.onnx"))
    finally:
        logging.getLogger().setLevel(level)
    out = tmp / "int8.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"image": x.numpy()})[0]


def speed(model, paths, repeats, threads, with_int8):
    pre = model.preprocess
    xb = [torch.stack([load_tensor(p, pre) for p in chunk]) for chunk in batches(paths)]
    torch_eng = engines.TorchEngine(model, torch.device("cpu"))
    onnx_eng = engines.OnnxEngine(model, threads=threads)
    cases = {
        "today: full decode + eager torch": lambda: today_path(model, paths),
        "pure eager torch (pre-decoded)": lambda: pure(eager(model), xb),
        "pure torch BN-folded + channels_last": lambda: pure(torch_eng, xb),
        "embed_paths engine=torch (draft decode)": lambda: embed_paths(
            model, paths, device="cpu", batch_size=BATCH, workers=0, engine="torch"),
        "pure ONNX Runtime (pre-decoded)": lambda: pure(onnx_eng, xb),
        "embed_paths engine=onnx (draft decode)": lambda: embed_paths(
            model, paths, device="cpu", batch_size=BATCH, workers=0, engine="onnx"),
        "decode only, today (full size)": lambda: [today_tensor(p, pre) for p in paths],
        f"decode only, draft >= {DRAFT_FACTOR}x input (default)": lambda: [
            load_tensor(p, pre) for p in paths],
        "decode only, draft >= 1x input": lambda: [draft1_tensor(p, pre) for p in paths],
    }
    big = large_paths()
    if big:
        cases.update({
            "large photos: decode only, today": lambda: [today_tensor(p, pre) for p in big],
            f"large photos: decode only, draft >= {DRAFT_FACTOR}x (default)": lambda: [
                load_tensor(p, pre) for p in big],
            "large photos: decode only, draft >= 1x": lambda: [
                draft1_tensor(p, pre) for p in big]})
    extra = {}
    if with_int8:
        run8 = int8_engine(model, threads)
        cases["pure ONNX Runtime dynamic int8"] = lambda: pure(run8, xb)
        ref = np.concatenate([eager(model)(x) for x in xb])
        got = np.concatenate([run8(x) for x in xb])
        extra["int8 vs eager torch: min cosine"] = float(np.sum(ref * got, axis=1).min())
    few = paths[:BATCH * 2]
    # warm-up: first calls allocate, import and build sessions
    today_path(model, few)
    pure(eager(model), xb[:2])
    pure(torch_eng, xb[:2])
    pure(onnx_eng, xb[:2])
    embed_paths(model, few, device="cpu", batch_size=BATCH, workers=0, engine="torch")
    embed_paths(model, few, device="cpu", batch_size=BATCH, workers=0, engine="onnx")
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(repeats):
        for name, fn in cases.items():
            if name.endswith("int8") and r > 0:
                continue  # slow and rejected: once is enough to show it
            n = len(big) if name.startswith("large") else len(paths)
            times[name].append(timed(fn) / n)
            logging.info("round %d %-42s %.1f ms/img", r, name, 1000 * times[name][-1])
    return {k: 1000 * median(v) for k, v in times.items()}, extra


def agreement(model, threads):
    """Engines and decodes compared on the real query/gallery splits."""
    root = shared_data_dir()
    if root is None:
        return {}
    onnx_eng = engines.OnnxEngine(model, threads=threads)
    run_torch = eager(model)
    pre = model.preprocess
    out = {"sets": {}}
    cos_engine, cos_decode, cos_d1 = [], [], []
    top1_engine = top1_decode = top1_d1 = total = 0
    for name in AGREE_SETS:
        q = load_photos(root / name / "manifest.csv", role="query").photos
        g = load_photos(root / name / "manifest.csv", role="gallery").photos
        if not q or not g:
            continue
        allp = [p.path for p in q + g]
        x_new = torch.stack([load_tensor(p, pre) for p in allp])
        x_old = torch.stack([today_tensor(p, pre) for p in allp])
        x_d1 = torch.stack([draft1_tensor(p, pre) for p in allp])
        d_torch = np.concatenate([run_torch(x) for x in batches(x_new)])
        d_onnx = np.concatenate([onnx_eng(x) for x in batches(x_new)])
        d_old = np.concatenate([run_torch(x) for x in batches(x_old)])
        d_d1 = np.concatenate([run_torch(x) for x in batches(x_d1)])
        nq = len(q)

        def top1(d, nq=nq):
            return np.argmax(d[:nq] @ d[nq:].T, axis=1)

        def r1(d, q=q, g=g):
            t = top1(d)
            return float(np.mean([g[j].place_id == qq.place_id for qq, j in zip(q, t,
                                                                              strict=True)]))

        ce = np.sum(d_torch * d_onnx, axis=1)
        cd = np.sum(d_torch * d_old, axis=1)
        cd1 = np.sum(d_d1 * d_old, axis=1)
        cos_engine.append(float(ce.min()))
        cos_decode.append(float(cd.min()))
        cos_d1.append(float(cd1.min()))
        same_e = int(np.sum(top1(d_torch) == top1(d_onnx)))
        same_d = int(np.sum(top1(d_torch) == top1(d_old)))
        same_d1 = int(np.sum(top1(d_d1) == top1(d_old)))
        top1_engine += same_e
        top1_decode += same_d
        top1_d1 += same_d1
        total += nq
        out["sets"][name] = {"queries": nq, "gallery": len(g),
                             "min_cos_onnx_vs_torch": float(ce.min()),
                             "top1_identical_onnx_vs_torch": same_e,
                             "min_cos_draft_vs_full_decode": float(cd.min()),
                             "median_cos_draft_vs_full_decode": float(np.median(cd)),
                             "top1_identical_draft_vs_full_decode": same_d,
                             "min_cos_draft1x_vs_full_decode": float(cd1.min()),
                             "top1_identical_draft1x_vs_full_decode": same_d1,
                             "r1_full_decode": r1(d_old), "r1_draft_decode": r1(d_torch),
                             "r1_draft1x_decode": r1(d_d1), "r1_onnx": r1(d_onnx)}
    big = large_paths()
    if big:
        d_big = np.stack([run_torch(load_tensor(p, pre)[None])[0] for p in big])
        d_big_old = np.stack([run_torch(today_tensor(p, pre)[None])[0] for p in big])
        d_big_1 = np.stack([run_torch(draft1_tensor(p, pre)[None])[0] for p in big])
        out["large_photos_min_cos_draft_vs_full"] = float(np.sum(d_big * d_big_old, 1).min())
        out["large_photos_min_cos_draft1x_vs_full"] = float(np.sum(d_big_1 * d_big_old, 1).min())
    out.update({
        "ONNX vs torch: min cosine": min(cos_engine),
        "ONNX vs torch: identical top-1": f"{top1_engine}/{total}",
        f"draft >= {DRAFT_FACTOR}x vs full decode: min cosine": min(cos_decode),
        f"draft >= {DRAFT_FACTOR}x vs full decode: identical top-1": f"{top1_decode}/{total}",
        "draft >= 1x vs full decode: min cosine": min(cos_d1),
        "draft >= 1x vs full decode: identical top-1": f"{top1_d1}/{total}"})
    if big:
        out[f"large photos: draft >= {DRAFT_FACTOR}x vs full: min cosine"] = out.pop(
            "large_photos_min_cos_draft_vs_full")
        out["large photos: draft >= 1x vs full: min cosine"] = out.pop(
            "large_photos_min_cos_draft1x_vs_full")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64, help="photos timed per round")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads")
    ap.add_argument("--int8", action="store_true", help="also time dynamic int8 ONNX")
    ap.add_argument("--model", default="effnetlite2-gem")
    ap.add_argument("-v", action="store_true", help="log every round")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)
    paths = photo_paths(args.n)
    model = get_model(args.model).eval()
    ms, extra = speed(model, paths, args.repeats, args.threads, args.int8)
    base = ms["today: full decode + eager torch"]
    rows = [[name, round(v, 1), round(1000 / v, 1), round(base / v, 2)] for name, v in ms.items()
            if "decode only" not in name]
    ratios = {
        "indexing_speedup_vs_today (goal >= 1.5)": base
        / ms["embed_paths engine=onnx (draft decode)"],
        "onnx_vs_eager_torch_pure (adopt if >= 1.3)": ms["pure eager torch (pre-decoded)"]
        / ms["pure ONNX Runtime (pre-decoded)"],
        "onnx_vs_torch_embed_paths": ms["embed_paths engine=torch (draft decode)"]
        / ms["embed_paths engine=onnx (draft decode)"],
        "bn_fold_channels_last_vs_eager_pure": ms["pure eager torch (pre-decoded)"]
        / ms["pure torch BN-folded + channels_last"],
        "onnx_incl_decode_over_pure": ms["embed_paths engine=onnx (draft decode)"]
        / ms["pure ONNX Runtime (pre-decoded)"],
        "today_incl_decode_over_pure": base / ms["pure eager torch (pre-decoded)"],
    }
    agree = agreement(model, args.threads)
    agree.update(extra)
    print(f"bench_index: {args.model}, {len(paths)} real JPEGs, batch {BATCH}, "
          f"{args.threads} thread(s), median of {args.repeats} rounds")
    print(table(["path", "ms/img", "img/s", "speed vs today"], rows))
    print()
    print(table(["decode only (file to model input)", "ms/img"],
                [[k, round(v, 2)] for k, v in ms.items() if "decode only" in k]))
    print()
    print(table(["ratio (same run)", "value"], [[k, round(v, 2)] for k, v in ratios.items()]))
    if agree:
        print()
        print(table(["agreement on shared query/gallery sets", "value"],
                    [[k, f"{v:.5f}" if isinstance(v, float) else v]
                     for k, v in agree.items() if k != "sets"]))
    if agree.get("sets"):
        print()
        print(table(["set", "R@1 full decode", f"R@1 draft {DRAFT_FACTOR}x", "R@1 draft 1x",
                     "R@1 onnx"],
                    [[k, v["r1_full_decode"], v["r1_draft_decode"], v["r1_draft1x_decode"],
                      v["r1_onnx"]] for k, v in agree["sets"].items()]))
    path = write_json("bench_index.json", {
        "model": args.model, "images": len(paths), "batch": BATCH, "threads": args.threads,
        "repeats": args.repeats, "ms_per_image": ms, "ratios": ratios, "agreement": agree,
        "machine": machine()})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
