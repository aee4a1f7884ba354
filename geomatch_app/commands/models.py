"""``geomatch models [--json]``: list every registered model with descriptor dim, parameter count
and source; ``geomatch models init-netvlad``: initialise a NetVLAD-family model from photos."""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path

from geomatch_app.commands import args as a

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the available models (dim, parameters, source)",
                       description="List every registered model: descriptor dimension, number "
                       "of parameters, the paper it comes from and where its pretrained "
                       "weights come from. Model cards live in models/<name>.md.")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(func=run)
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    q = msub.add_parser("init-netvlad", help="initialise NetVLAD centroids by k-means",
                        description="Sample local descriptors from photos, run k-means and save "
                        "the model with its NetVLAD centroids and alpha set.")
    q.add_argument("model", type=a.model_name, help="a NetVLAD-family model, e.g. resnet18-netvlad")
    q.add_argument("src", help="folder of photos or manifest.csv to sample descriptors from")
    q.add_argument("--out", required=True, help="folder to write the initialised model to")
    q.add_argument("--descriptors", type=a.positive_int, default=50_000,
                   help="local descriptors to sample")
    q.add_argument("--max-images", type=a.positive_int, default=500,
                   help="use at most this many photos")
    q.add_argument("--clusters", type=a.positive_int, default=64)
    q.add_argument("--no-pretrained", action="store_true",
                   help="start from random backbone weights")
    q.add_argument("--device", default="cpu", type=a.device, help="cpu or cuda")
    q.set_defaults(func=run_init_netvlad)


def describe_models() -> list[dict]:
    """One dict per registered model: name, dim, params, source, backbone, head, pretrained;
    a model that cannot be loaded gets an ``error`` instead of breaking the whole list."""
    from geomatch_app.core.errors import GeomatchError
    from geomatch_app.models import list_models

    rows = []
    for name in list_models():
        try:
            rows.append(_describe(name))
        except GeomatchError as exc:  # one broken model folder must not hide the others
            log.warning("%s", exc)
            rows.append({"name": name, "dim": 0, "params": 0, "source": "",
                         "backbone": "", "head": "", "pretrained": "", "error": str(exc)})
    return rows


def _describe(name: str) -> dict:
    import torch

    from geomatch_app.models import get_model, model_info

    info = model_info(name)
    try:
        # On the meta device nothing is allocated: counting is instant even for VGG16.
        # Fine-tuned models copy their weights onto it as a no-op, which torch warns about.
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = get_model(name, pretrained=False)
    except Exception:  # noqa: BLE001 - e.g. a fine-tuned model that must read its file
        model = get_model(name, pretrained=False)
    return {
        "name": name,
        "dim": int(model.dim),
        "params": int(sum(p.numel() for p in model.parameters())),
        "source": info.source,
        "backbone": info.backbone,
        "head": info.head,
        "pretrained": info.pretrained or "none (random initialisation)",
    }


def _human(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


def run(args: argparse.Namespace) -> int:
    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'dim':>6}  {'params':>7}  source / pretrained weights")
    for r in rows:
        if r.get("error"):
            print(f"{r['name']:<{width}}  {'-':>6}  {'-':>7}  unusable: {r['error']}")
            continue
        print(f"{r['name']:<{width}}  {r['dim']:>6}  {_human(r['params']):>7}  {r['source']}")
        print(f"{'':<{width}}  {'':>6}  {'':>7}  weights: {r['pretrained']}")
    return 0


def run_init_netvlad(args: argparse.Namespace) -> int:
    import torch

    from geomatch_app.core.errors import GeomatchError
    from geomatch_app.core.progress import terminal_progress
    from geomatch_app.data.gallery import load_photos
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model
    from geomatch_app.models.netvlad_init import init_netvlad, netvlad_head

    kwargs = {"clusters": args.clusters} if args.clusters != 64 else {}
    model = get_model(args.model, pretrained=not args.no_pretrained, **kwargs)
    netvlad_head(model)  # fail early, before reading photos
    model.to(torch.device(args.device))
    report = load_photos(args.src)
    # location is irrelevant here: photos without GPS are as good for sampling descriptors
    photos = list(dict.fromkeys([p.path for p in report.photos] + list(report.no_location)))
    photos = photos[: args.max_images]
    if not photos:
        raise GeomatchError("no readable photos found", path=args.src,
                            hint="give a folder of photos or a manifest.csv")
    summary = init_netvlad(model, photos, n_descriptors=args.descriptors,
                           progress=terminal_progress("sampling"))
    card = (f"# {Path(args.out).name}\n\n{args.model} with its NetVLAD centroids and alpha "
            f"initialised by k-means on {summary['descriptors']} local descriptors sampled from "
            f"{len(photos)} photos of {args.src} (alpha = {summary['alpha']:.1f}). Not "
            "fine-tuned.\n")
    out = save_model(model, args.out, base_model=args.model, card=card,
                     extra={"netvlad_init": {**summary, "source": str(args.src)}})
    print(f"initialised {args.model} from {summary['descriptors']} descriptors of "
          f"{len(photos)} photos (alpha={summary['alpha']:.1f}); saved to {out}")
    return 0
