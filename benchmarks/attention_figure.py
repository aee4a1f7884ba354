"""The figure of docs/attention.md: real query/candidate pairs from ../shared/data with the
attention model's own re-weighting mask overlaid, plus where in the frame that mask puts its
weight (top / middle / bottom third) over the street photos and old photos.

Not a test: it loads the shipped attention model (EfficientNet-Lite2 + CRN2, trained on the
shared sets) and its untrained counterpart. The mask is exactly what the app's "CRN context
mask" heatmap shows (``models.explain.crn_mask``: the context mask on the 7×7 conv map of the
224-px input, upsampled bilinearly to the frame). Each panel is normalised to its own range,
as the app does; the range is printed under it.

    .venv/bin/python benchmarks/attention_figure.py            # docs/attention.png + JSON
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from geomatch_app.core.paths import shared_data_dir
from geomatch_app.data.images import load_image

log = logging.getLogger("attention_figure")
REPO = Path(__file__).resolve().parent.parent
RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                dtype=np.float32)  # the app's heatmap ramp (gui/images.py)
PANEL_H = 200
STREET_SETS = ("opensfm_berlin_lund", "fordham_places", "arezzo_exif_gps", "vprtutorial_triplets")


def rows(root: Path, name: str, split: str | None = None) -> list[dict]:
    manifest = root / name / "manifest.csv"
    with manifest.open(newline="", encoding="utf-8") as fh:
        out = [r for r in csv.DictReader(fh) if split is None or r["split"] == split]
    for r in out:
        r["path"] = str(manifest.parent / r["path"])
    return out


def mask_of(model, path: str) -> np.ndarray:
    """The app's crn-mask heatmap of one photo (H×W at the model's input size)."""
    from geomatch_app.app.explain import compute_heatmap

    return compute_heatmap(model, "crn-mask", path)


def describe(model, paths: list[str]) -> np.ndarray:
    from geomatch_app.index.extract import embed_paths

    return embed_paths(model, paths, device="cpu", workers=0, engine="torch")


def overlay(path: str, heat: np.ndarray, height: int = PANEL_H) -> Image.Image:
    img = load_image(path, max_side=1024).convert("RGB")
    w = max(1, round(img.width * height / img.height))
    img = img.resize((w, height), Image.Resampling.BILINEAR)
    h = np.asarray(heat, np.float32)
    lo, hi = float(h.min()), float(h.max())
    h = (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)
    h = np.asarray(Image.fromarray((h * 255).astype(np.uint8)).resize(
        (w, height), Image.Resampling.BILINEAR), np.float32) / 255.0
    pos = h * (len(RAMP) - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(RAMP) - 2)
    frac = (pos - i0)[..., None]
    rgb = RAMP[i0] * (1 - frac) + RAMP[i0 + 1] * frac
    a = (0.25 + 0.5 * h)[..., None]
    out = np.asarray(img, np.float32) * (1 - a) + rgb * a
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def thirds(heat: np.ndarray) -> list[float]:
    """Share of the mask's mass in the top, middle and bottom third of the frame."""
    h = np.asarray(heat, np.float64).clip(min=0)
    parts = np.array_split(h, 3, axis=0)
    total = h.sum() or 1.0
    return [float(p.sum() / total) for p in parts]


def pick_pairs(root: Path, model) -> list[dict]:
    """(label, query, candidate, is_true_match) — ground-truth pairs from three labelled sets
    and an old photo against the street galleries (its top-ranked candidate; no true match
    exists there, the old photos carry no place labels)."""
    pairs = []
    for name, place, title in (("nordland_seqslam", "nordland_03000", "Nordland"),
                               ("fordham_places", "fordham_p4", "Fordham"),
                               ("opensfm_berlin_lund", "lund_seg03", "OpenSfM, Lund")):
        qr = next(r for r in rows(root, name, "query") if r["place_id"] == place)
        same = [r for r in rows(root, name, "gallery") if r["place_id"] == place]
        # the gallery photo of the same place in another condition when there is one
        gr = next((r for r in same if r["domain"] != qr["domain"]), same[0])
        pairs.append({"caption": f"{title}: {qr['domain']} query -> {gr['domain']} photo of "
                                 "the same place", "query": qr["path"],
                      "candidate": gr["path"], "true_match": True})
    gallery = [r["path"] for name in STREET_SETS for r in rows(root, name)
               if r["split"] in ("gallery", "db")]
    old = [r["path"] for r in rows(root, "old_photos")]
    pick = [p for p in old if "LondonStreets1900" in p] or old[:1]
    g = describe(model, gallery)
    q = describe(model, pick)
    best = int(np.argmax(g @ q[0]))
    pairs.append({"caption": "old photo (London, 1900) -> top candidate of the street galleries "
                             "(not a true match: none exists)",
                  "query": pick[0], "candidate": gallery[best], "true_match": False})
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="effnetlite2-crn2-tuned")
    ap.add_argument("--base", default="effnetlite2-crn2",
                    help="the untrained counterpart, for the thirds statistic")
    ap.add_argument("--out", default=str(REPO / "docs" / "attention.png"))
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" /
                                          "attention_figure.json"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    root = shared_data_dir()
    if root is None:
        print("../shared/data is absent", file=sys.stderr)
        return 2
    from geomatch_app.models import get_model

    model = get_model(args.model).eval()
    pairs = pick_pairs(root, model)
    panels, notes = [], []
    for pair in pairs:
        row = []
        for key in ("query", "candidate"):
            heat = mask_of(model, pair[key])
            row.append(overlay(pair[key], heat))
            pair[f"{key}_mask_range"] = [float(heat.min()), float(heat.max())]
        panels.append(row)
        notes.append(pair)
    # where the mask puts its weight, over every street photo and old photo
    street = [r["path"] for name in STREET_SETS for r in rows(root, name)]
    old = [r["path"] for r in rows(root, "old_photos")]
    base = get_model(args.base).eval()  # its mask does not depend on the centroids
    stats = {}
    for label, m in (("trained", model), ("untrained", base)):
        for group, paths in (("street", street), ("old", old)):
            t = np.array([thirds(mask_of(m, p)) for p in paths])
            stats[f"{label}/{group}"] = {"n": len(paths), "top": float(t[:, 0].mean()),
                                         "middle": float(t[:, 1].mean()),
                                         "bottom": float(t[:, 2].mean())}
    width = max(sum(p.width for p in row) + 30 for row in panels)
    cap_h = 34
    sheet = Image.new("RGB", (width, len(panels) * (PANEL_H + cap_h) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    y = 5
    for row, pair in zip(panels, notes, strict=True):
        x = 10
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + 10
        qr, cr = pair["query_mask_range"], pair["candidate_mask_range"]
        draw.text((10, y + PANEL_H + 3), pair["caption"], fill="black")
        draw.text((10, y + PANEL_H + 17),
                  f"mask range query {qr[0]:.2f}-{qr[1]:.2f}, candidate {cr[0]:.2f}-{cr[1]:.2f}"
                  " (each panel scaled to its own range; yellow = weighted most)", fill="black")
        y += PANEL_H + cap_h
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    doc = {"model": args.model, "base": args.base, "pairs": notes, "thirds": stats}
    Path(args.json).write_text(json.dumps(doc, indent=1))
    print(json.dumps(stats, indent=1))
    print(f"wrote {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
