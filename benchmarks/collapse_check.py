"""Did a trained model collapse? Descriptor and conv5 spread over photos of different places.

Not a test: a one-minute check of saved models (a config's ``"out_root"`` keeps the models
``compare_models.py`` trains). For each model it embeds the same evenly spaced gallery photos
of the shared sets (different places) at the config's input size and reports

- the mean cosine between descriptors of different photos (1.0: every photo looks the same —
  the collapse behind a ranking loss stuck at n_neg × margin),
- the mean cosine between their conv5 feature maps (what MK-MMD acts on, paper A Eq. 7),
- for attention heads (paper A Eq. 4–6), the attention weights w: mean, spread across a
  photo's locations, and spread of the per-photo mean across photos.

Writes ``benchmarks/results/collapse_check.json``.

    .venv/bin/python benchmarks/collapse_check.py mobilenetv2-a2 /tmp/out/a2 [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import compare_models as cm  # noqa: E402

from geomatch_app.core.paths import shared_data_dir  # noqa: E402
from geomatch_app.data.gallery import load_photos  # noqa: E402
from geomatch_app.models import get_model  # noqa: E402
from geomatch_app.training.augment import AugmentConfig, ImageSource  # noqa: E402

SETS = ("nordland_seqslam", "corridor_vprbench", "opensfm_berlin_lund", "fordham_places")


def photos(root: Path, per_set: int) -> list[str]:
    out = []
    for name in SETS:
        gallery = load_photos(root / name / "manifest.csv", "gallery").photos
        pick = np.linspace(0, len(gallery) - 1, min(per_set, len(gallery))).round().astype(int)
        out += [gallery[int(i)].path for i in pick]
    return out


def mean_off_diagonal_cosine(x: torch.Tensor) -> float:
    x = F.normalize(x.flatten(1), dim=1)
    c = x @ x.T
    n = len(x)
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1)))


def inspect(spec: str, paths: list[str], size: int) -> dict:
    model = get_model(spec).eval()
    model.preprocess = replace(model.preprocess, size=size)
    source = ImageSource(model.preprocess, AugmentConfig(enabled=False))
    x = source.batch(paths, augment=False)
    with torch.no_grad():
        feats = model.features(x)
        fmap = feats[-1] if isinstance(feats, (list, tuple)) else feats
        desc = model(x)
        out = {"model": spec, "n_photos": len(paths),
               "descriptor_cosine": mean_off_diagonal_cosine(desc),
               "conv5_cosine": mean_off_diagonal_cosine(fmap),
               "conv5_mean_abs": float(fmap.abs().mean())}
        att = getattr(model.head, "attention", None)
        if att is not None:
            w = att(fmap).flatten(1)  # (photos, locations)
            out["attention"] = {"mean": float(w.mean()), "std_within_photo": float(
                w.std(dim=1).mean()), "std_of_photo_means": float(w.mean(dim=1).std())}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="registered names or trained model folders")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--per-set", type=int, default=25)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = shared_data_dir()
    if root is None:
        print("../shared/data is absent", file=sys.stderr)
        return 2
    cm.register_experiment_models()
    paths = photos(root, args.per_set)
    rows = [inspect(m, paths, args.size) for m in args.models]
    (cm.RESULTS / "collapse_check.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
