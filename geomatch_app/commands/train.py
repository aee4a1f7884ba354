"""``geomatch train``: fine-tune a model on confirmed pairs (--db) or a manifest, optionally
adapting to unlabelled target photos (MK-MMD), and print recall before/after."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geomatch_app.commands import args as a
from geomatch_app.core.progress import Progress, TerminalBar
from geomatch_app.models import DEFAULT_MODEL

# = training.objective.LOSSES (not imported: it imports torch; a test keeps them equal)
LOSSES = ("ranking", "triplet", "soft-triplet", "dbl", "haf", "edbl", "multi-positive")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="fine-tune a model on confirmed pairs or a manifest",
        description="Fine-tune a place model with hard-negative mining and paper A's objective "
        "(ranking loss, plus MK-MMD towards unlabelled target photos when --target-dir is "
        "given). Places, never images, are held out for validation; recall before/after is "
        "printed and written to the model card. The new model is listed by `geomatch models` "
        "when --out is inside the models folder (the default).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", help="curation database: train on its confirmed pairs")
    src.add_argument("--manifest", help="manifest.csv with query and gallery rows")
    p.add_argument("--model", default=DEFAULT_MODEL, type=a.model_name,
                   help="base model: registered or fine-tuned name, or a model folder")
    p.add_argument("--gallery", help="with --db: the gallery as an index folder or "
                   "manifest (default: the database's gallery images)")
    p.add_argument("--target-dir", help="unlabelled target-domain photos (folder or manifest) "
                   "for MK-MMD domain adaptation, e.g. the archive's scans")
    p.add_argument("--out", help="model folder to write (default: the user models folder / "
                   "<model>-ft-<date>)")
    p.add_argument("--epochs", type=a.positive_int, default=5)
    p.add_argument("--queries-per-epoch", type=a.positive_int, default=None,
                   help="sample this many training queries per epoch (default: all)")
    p.add_argument("--batch-size", type=a.positive_int, default=4, help="tuples per step")
    p.add_argument("--lr", type=a.positive_float, default=1e-5,
                   help="learning rate (paper A: 1e-5)")
    p.add_argument("--head-lr", type=a.positive_float, default=None,
                   help="learning rate of the pooling head (attention, context mask, NetVLAD); "
                   "default: --lr")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam (paper A) or sgd with a step schedule (paper B)")
    p.add_argument("--loss", choices=LOSSES, default="ranking",
                   help="ranking (paper A, default), triplet / --plain-l2 triplet (paper C), "
                   "soft-triplet, dbl, edbl, multi-positive (paper D; edbl and multi-positive "
                   "use p×k batches), haf (paper B's multi-level loss, hierarchical models)")
    p.add_argument("--margin", type=a.non_negative_float, default=0.1)
    p.add_argument("--plain-l2", action="store_true",
                   help="ranking/triplet on plain instead of squared L2 distances (paper C)")
    p.add_argument("--scale", type=a.positive_float, default=3.0,
                   help="feature scale of the soft-triplet / DBL / eDBL / multi-positive losses")
    p.add_argument("--pk-places", type=a.positive_int, default=8,
                   help="p×k batches: places per batch")
    p.add_argument("--pk-per-place", type=a.positive_int, default=4,
                   help="p×k batches: photos per place")
    p.add_argument("--alpha", type=a.non_negative_float, default=0.99,
                   help="weight of MK-MMD in L = L_r + alpha·M (paper A: 0.99)")
    p.add_argument("--target-crop", type=a.positive_int, default=512,
                   help="centre-crop target photos to a square of this side (paper A: 512)")
    p.add_argument("--negatives", type=a.positive_int, default=10,
                   help="hardest negatives per query")
    p.add_argument("--neg-cache", type=a.positive_int, default=1000,
                   help="random negatives scored per query")
    p.add_argument("--refresh-every", type=a.positive_int, default=1000,
                   help="queries between descriptor refreshes for mining")
    p.add_argument("--freeze-below", type=a.non_negative_int, default=None,
                   help="freeze backbone blocks below this index (default: conv1–conv3, "
                   "paper A)")
    p.add_argument("--image-size", type=a.positive_int, default=None,
                   help="input size (default: the model's); stored with the new model")
    p.add_argument("--no-augment", action="store_true", help="no colour jitter")
    p.add_argument("--augment-crop", action="store_true",
                   help="also random resized crops (neutral in paper C)")
    p.add_argument("--augment-erase", action="store_true",
                   help="also random erasing (hurt in paper C)")
    p.add_argument("--flip", action="store_true", help="random horizontal flips")
    p.add_argument("--center-crop", type=a.positive_int, default=None,
                   help="centre-crop training queries to a square of this side (archive scans)")
    p.add_argument("--cache-chunk", type=a.non_negative_int, default=0,
                   help="gradient caching: forward in chunks of this many images (0 = off)")
    p.add_argument("--cache-trunk", action="store_true",
                   help="run the frozen blocks (below --freeze-below) once per photo and "
                   "train only the blocks above on their cached feature maps: much faster "
                   "on a CPU; turns augmentation off")
    p.add_argument("--trunk-cache-dir", default="",
                   help="with --cache-trunk: keep the cached maps in this folder for later runs")
    p.add_argument("--pos-m", type=a.non_negative_float, default=25.0,
                   help="positives within this distance")
    p.add_argument("--neg-m", type=a.non_negative_float, default=25.0,
                   help="negatives beyond this distance")
    p.add_argument("--pos-frames", type=a.non_negative_int, default=0,
                   help="numbered place ids within this many steps are positives")
    p.add_argument("--neg-frames", type=a.non_negative_int, default=0,
                   help="numbered place ids within this many steps are never negatives")
    p.add_argument("--eval-m", type=a.non_negative_float, default=25.0,
                   help="validation: a retrieved photo within this distance is correct "
                   "(paper C trains with 5 m positives, tests at 25 m)")
    p.add_argument("--eval-frames", type=a.non_negative_int, default=0,
                   help="validation: numbered place ids within this many steps are correct")
    p.add_argument("--val-fraction", type=a.open_fraction, default=0.2,
                   help="share of places held out for validation")
    p.add_argument("--max-train-queries", type=a.positive_int, default=None)
    p.add_argument("--device", default="auto", type=a.device,
                   help="cpu, cuda or auto (default)")
    p.add_argument("--threads", type=a.positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--seed", type=a.any_int, default=0)
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last finished epoch")
    p.set_defaults(func=run)


class EventPrinter:
    """Terminal bar for steps, one line per validation."""

    def __init__(self) -> None:
        self.bar = TerminalBar(label="training")

    def __call__(self, ev) -> None:
        if ev.val:
            sys.stderr.write("\n" if ev.step else "")
            vals = "  ".join(f"{k} {100 * v:.1f}" for k, v in ev.val.items())
            print(f"[{ev.message}] {vals}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from geomatch_app.app.finetune import DataSpec, default_out, finetune
    from geomatch_app.training import sources
    from geomatch_app.training.card import recall_table
    from geomatch_app.training.trainer import TrainConfig

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else default_out(args.model)
    rules = sources.MatchRules(args.pos_m, args.neg_m, args.pos_frames, args.neg_frames)
    store = None
    if args.db:
        from geomatch_app.store import Store

        store = Store(args.db, create=False)
    spec = DataSpec(store=store, manifest=args.manifest or "", gallery=args.gallery,
                    target_dir=args.target_dir or "", val_fraction=args.val_fraction,
                    max_train_queries=args.max_train_queries)
    cfg = TrainConfig(
        model=args.model, out_dir=str(out), epochs=args.epochs,
        queries_per_epoch=args.queries_per_epoch, batch_size=args.batch_size,
        n_neg=args.negatives, neg_cache=args.neg_cache, refresh_every=args.refresh_every,
        loss=args.loss, margin=args.margin, plain_l2=args.plain_l2, scale=args.scale,
        pk_places=args.pk_places, pk_per_place=args.pk_per_place, target_crop=args.target_crop,
        alpha=args.alpha, optimizer=args.optimizer,
        lr=args.lr, head_lr=args.head_lr, weight_decay=0.001 if args.optimizer == "sgd" else 0.0,
        freeze_below=args.freeze_below, image_size=args.image_size,
        augment=not args.no_augment, augment_crop=args.augment_crop,
        augment_erase=args.augment_erase, flip=args.flip, center_crop=args.center_crop,
        cache_chunk=args.cache_chunk, cache_trunk=args.cache_trunk,
        trunk_cache_dir=args.trunk_cache_dir, device=args.device, seed=args.seed,
        train_rules=rules, resume=args.resume,
        eval_rules=sources.MatchRules(pos_m=args.eval_m, pos_frames=args.eval_frames))
    printer = EventPrinter()
    try:
        res = finetune(spec, cfg, progress=Progress(report=printer.bar), on_event=printer,
                       on_data=lambda data, target: print(describe_data(data, target)))
    finally:
        if store is not None:
            store.close()
    sys.stderr.write("\n")
    print(f"saved {res.model_name} to {res.model_dir} ({res.elapsed_s:.0f} s)")
    print("recall on the validation split (%):")
    print(recall_table(res.before, res.after), end="")
    if res.netvlad_init:
        print(f"the NetVLAD head was uninitialised: initialised from "
              f"{res.netvlad_init['images']} training images before training")
    if not res.improved:
        print(f"did not improve on {args.model}: keep using {args.model}")
        return 0
    print(f"re-index the gallery with it: geomatch index SRC --index DIR --model {res.model_name}")
    return 0


def describe_data(data, target: list[str]) -> str:
    return (f"training on {data.n_pairs} pairs ({len(data.train.gallery)} gallery photos); "
            f"validation: {len(data.val.queries)} queries of {len(data.val.places)} held-out "
            f"places" + (f"; MK-MMD to {len(target)} target photos" if target else ""))
