"""GPU indexing: img/s including file reading and JPEG decoding vs the pure model, same run.

Cases, interleaved over --rounds on the same photos (JPEGs of the shared data, repeated to
--photos):
- ``pure model``: the model alone on pre-decoded input tensors already on the GPU (bf16
  autocast, channels_last: the torch engine of index/engines.py), batch --batch;
- ``indexing, nvJPEG decode``: ``embed_paths(device="cuda")`` as the index command runs it —
  DataLoader workers read the bytes into pinned memory, torchvision.io.decode_jpeg decodes the
  batch on the GPU, resize + normalisation on the GPU (index/gpu_decode.py);
- ``indexing, Pillow decode``: the same with ``decode="pillow"`` (CPU workers decode, pinned
  memory, copy to the GPU) — the path before nvJPEG.

Goal (issue 15, item 4): indexing incl. decode ≥ 0.8 × the pure model. Without CUDA it prints
"skipped: no CUDA" and writes that to the JSON (exit 0), so it can run anywhere.

Usage: python benchmarks/bench_gpu.py [--photos 2048] [--batch 64] [--rounds 3]
Writes benchmarks/results/bench_gpu.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from perf_common import machine, median, table, write_json  # noqa: E402

SETS = ["fordham_places", "opensfm_berlin_lund", "vprtutorial_triplets", "arezzo_exif_gps",
        "old_photos"]


def photos(n: int) -> list[str]:
    from geomatch_app.core.paths import shared_data_dir

    data = shared_data_dir()
    if data is None:
        sys.exit("bench_gpu needs ../shared/data (JPEG photos)")
    files = sorted(str(p) for s in SETS for p in (data / s).rglob("*.jpg"))
    return [files[i % len(files)] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="effnetlite2-gem")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA")
        write_json("bench_gpu.json", {"skipped": "no CUDA", "machine": machine()})
        return
    from geomatch_app.index.engines import get_engine
    from geomatch_app.index.extract import embed_paths, load_tensor
    from geomatch_app.models import get_model

    dev = torch.device("cuda")
    model = get_model(args.model).eval()
    paths = photos(args.photos)
    engine = get_engine(model, "torch", dev)
    uniq = sorted(set(paths))
    x = torch.stack([load_tensor(p, model.preprocess) for p in uniq[:args.batch]])
    x = x[torch.arange(args.batch) % len(x)].to(dev).contiguous(
        memory_format=torch.channels_last)

    def pure():
        for _ in range(0, len(paths), args.batch):
            engine(x)
        torch.cuda.synchronize()

    def indexing(decode: str):
        def run():
            out = embed_paths(model, paths, device="cuda", batch_size=args.batch,
                              workers=args.workers, engine="torch", decode=decode)
            torch.cuda.synchronize()
            assert not (out != out).any(), "a photo failed to decode"
        return run

    cases = {"pure model (pre-decoded tensors on the GPU)": pure,
             "indexing, nvJPEG decode on the GPU": indexing("torchvision"),
             "indexing, Pillow decode on CPU workers": indexing("pillow")}
    for fn in cases.values():  # warm-up: cuDNN autotuning, worker start, page cache
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    rate = {k: len(paths) / median(v) for k, v in times.items()}
    base = rate["pure model (pre-decoded tensors on the GPU)"]
    rows = [[k, round(v, 1), round(v / base, 2)] for k, v in rate.items()]
    # the two decoders must give the model the same input (descriptor agreement)
    a = embed_paths(model, uniq, device="cuda", batch_size=args.batch, workers=0,
                    engine="torch", decode="torchvision")
    b = embed_paths(model, uniq, device="cuda", batch_size=args.batch, workers=0,
                    engine="torch", decode="pillow")
    cos = (a * b).sum(1) / ((a ** 2).sum(1) ** 0.5 * (b ** 2).sum(1) ** 0.5)
    print(f"bench_gpu: {torch.cuda.get_device_name()}, {args.model}, {len(paths)} photos, "
          f"batch {args.batch}, {args.workers} workers, bf16 + channels_last")
    print(table(["case", "img/s", "ratio to pure model"], rows))
    print(f"\ngoal: indexing incl. decode >= 0.8 x pure model: "
          f"{rows[1][2]:.2f} ({'met' if rows[1][2] >= 0.8 else 'not met'}); "
          f"nvJPEG vs Pillow input: min descriptor cosine {float(cos.min()):.5f}")
    write_json("bench_gpu.json", {"gpu": torch.cuda.get_device_name(), "args": vars(args),
                                  "img_per_s": rate, "ratio_to_pure": {r[0]: r[2] for r in rows},
                                  "min_cosine_nvjpeg_vs_pillow": float(cos.min()),
                                  "machine": machine()})


if __name__ == "__main__":
    main()
