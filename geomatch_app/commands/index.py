"""``geomatch index SRC --index DIR``: embed a gallery folder or manifest into a faiss index."""

from __future__ import annotations

import argparse
import time

from geomatch_app.commands import args as a
from geomatch_app.core.progress import terminal_progress
from geomatch_app.models import DEFAULT_MODEL


def add_parser(sub) -> None:
    p = sub.add_parser("index", help="build or update a gallery index from a folder or manifest",
                       description="Embed a gallery (folder with EXIF GPS, or manifest.csv "
                       "gallery/db rows) into an index folder. Re-running embeds only new or "
                       "changed files.")
    p.add_argument("src", help="folder of photos or manifest.csv")
    p.add_argument("--index", required=True, help="index folder to create or update")
    p.add_argument("--model", default=DEFAULT_MODEL, type=a.model_name,
                   help=f"model name (see `geomatch models`; default {DEFAULT_MODEL})")
    p.add_argument("--db", help="curation database: register the gallery and the index there")
    p.add_argument("--device", default="auto", type=a.device,
                   help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=a.positive_int, default=None,
                   help="images per batch (default: 4 on CPU, 32 on CUDA)")
    p.add_argument("--workers", type=a.non_negative_int, default=None,
                   help="image decoding workers")
    p.add_argument("--engine", choices=("auto", "torch", "onnx", "ray"), default=None,
                   help="descriptor engine: auto (ONNX Runtime on the CPU when installed, else "
                   "torch), torch or onnx; default: $GEOMATCH_ENGINE or auto. Same descriptors, "
                   "so an index may be built with one and queried with the other. ray: embed "
                   "on a Ray cluster into shards (needs geomatch[scale]; re-embeds all but "
                   "finished shards, see docs/scale.md)")
    p.add_argument("--rebuild", action="store_true", help="start over instead of updating")
    p.add_argument("--index-type", choices=["auto", "flat", "hnsw", "ivfpq", "ivffs", "hnswpca"],
                   default="auto",
                   help="search structure (default auto: flat below 10k photos, HNSW below "
                   "100k, ivffs above: 4-bit fast-scan PQ of residuals on a 192-d PCA "
                   "rotation; ivfpq: OPQ + 8-bit PQ, built on disk by --engine ray; hnswpca: "
                   "an HNSW graph on a 256-d rotation, ~1.3 KB of RAM per photo; all three "
                   "re-rank exactly)")
    p.add_argument("--pca", type=int, default=None, metavar="DIM",
                   help="reduce descriptors to DIM with PCA-whitening learned on the gallery")
    p.add_argument("--reduce", type=int, default=None, metavar="DIM",
                   help="ivffs / hnswpca: PCA dimensions the shortlist is searched in "
                   "(a multiple of 4; default 192 for ivffs, 256 for hnswpca)")
    p.add_argument("--nprobe", type=int, default=None,
                   help="ivffs / ivfpq: inverted lists visited per query (default: half of "
                   "them for ivffs, a quarter for ivfpq; more is slower and closer to exact)")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: start a local Ray instance)")
    p.add_argument("--num-gpus", type=int, default=0,
                   help="Ray: GPU actors (one GPU each); 0 = CPU actors")
    p.add_argument("--shards", type=int, default=None,
                   help="Ray: number of shards (default: one per 10,000 photos)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app.indexing import build
    from geomatch_app.data.gallery import ImportReport
    from geomatch_app.index import IndexOptions
    from geomatch_app.index.engines import set_default_engine
    from geomatch_app.store import Store

    ray = args.engine == "ray"
    set_default_engine(None if ray else args.engine)  # None: GEOMATCH_ENGINE or auto
    report = ImportReport()
    t0 = time.perf_counter()
    store = Store(args.db) if args.db else None
    try:
        idx = build(args.src, args.index, model=args.model, device=args.device,
                    progress=terminal_progress("indexing"), batch_size=args.batch_size,
                    rebuild=args.rebuild, report=report, workers=args.workers, store=store,
                    options=IndexOptions(type=args.index_type, pca=args.pca,
                                         nprobe=args.nprobe, reduce=args.reduce),
                    engine="ray" if ray else "local",
                    ray_options={"address": args.address, "num_gpus": args.num_gpus,
                                 "shards": args.shards})
    finally:
        if store is not None:
            store.close()
    dt = time.perf_counter() - t0
    print(f"indexed {len(idx)} photos with {idx.model_name} into {args.index} in {dt:.1f} s "
          f"({idx.index_type} index)")
    if store is not None:
        print(f"registered the gallery and the index in {args.db}")
    if report.no_location:
        print(f"{len(report.no_location)} photos have no location (kept for retrieval, they "
              "cannot vote on the map):")
        for path in report.no_location[:20]:
            print(f"  {path}")
        if len(report.no_location) > 20:
            print(f"  ... and {len(report.no_location) - 20} more")
    if report.skipped:
        print(f"{len(report.skipped)} files skipped:")
        for path, reason in report.skipped:
            print(f"  {path}: {reason}")
    return 0
