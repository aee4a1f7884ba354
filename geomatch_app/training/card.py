"""The model card written next to a fine-tuned model: what it was trained from, on what, with
which losses, and how much it changed recall on the held-out places."""

from __future__ import annotations

from typing import Any


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def recall_table(before: dict[str, float], after: dict[str, float]) -> str:
    keys = [k for k in ("R@1", "R@5", "R@10", "R@20") if k in before or k in after]
    if not keys:
        return "(no validation split)\n"
    lines = ["| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines.append("| before | " + " | ".join(_pct(before.get(k)) for k in keys) + " |")
    lines.append("| after | " + " | ".join(_pct(after.get(k)) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def model_card(name: str, info: dict[str, Any]) -> str:
    """Markdown card. ``info`` is the ``training`` block of the model's config.json."""
    cfg = info.get("config", {})
    losses = _loss_text(cfg)
    if info.get("n_target"):
        losses = (f"L_u = {losses} + α·MK-MMD (paper A Eq. 1, α = {cfg.get('alpha')}) between "
                  f"the conv5 feature maps of the gallery images and of {info['n_target']} "
                  f"unlabelled target photos centre-cropped to {cfg.get('target_crop')} px")
    init = info.get("netvlad_init")
    init_line = (f"- NetVLAD head: it was uninitialised, so training first initialised it from "
                 f"{init.get('images')} training images (k-means on {init.get('descriptors')} "
                 f"local descriptors, K = {init.get('clusters')}, α = {init.get('alpha'):.1f})"
                 if init else "- NetVLAD initialisation: not needed (no NetVLAD head, or it was "
                 "already initialised)")
    improved = info.get("improved")
    verdict = ("Validation recall **beat** the base model's." if improved else
               "Validation recall did **not** beat the base model's: keep the base model.")
    lines = [
        f"# {name}",
        "",
        f"Fine-tuned by `geomatch train` from **{info.get('base_model')}**"
        f" (base weights {info.get('base_weight_hash', '?')}).",
        "",
        "## Data",
        f"- source: {info.get('data', '')}",
        f"- training queries with a positive (pairs): {info.get('n_pairs')}; training gallery: "
        f"{info.get('n_train_gallery')} photos; places: {info.get('n_train_places')}",
        f"- validation (held-out places, never trained on): {info.get('n_val_queries')} queries, "
        f"{info.get('n_val_gallery')} gallery photos, {info.get('n_val_places')} places",
        f"- positives: same place, ±{cfg.get('pos_frames')} sequence steps or ≤ "
        f"{cfg.get('pos_m')} m; never negatives: ±{cfg.get('neg_frames')} steps or ≤ "
        f"{cfg.get('neg_m')} m",
        "",
        "## Training",
        f"- objective: {losses}",
        init_line,
        f"- mining: {cfg.get('neg_cache')} random negatives per query, {cfg.get('n_neg')} hardest "
        f"kept, refreshed every {cfg.get('refresh_every')} queries; best positive",
        f"- optimiser: {cfg.get('optimizer')} lr {cfg.get('lr')}"
        + (f" (head {cfg['head_lr']})" if cfg.get("head_lr") is not None else "")
        + f"; batch {cfg.get('batch_size')} "
        f"tuples; gradient-cache chunk {cfg.get('cache_chunk') or 'off'}; layers below block "
        f"{info.get('frozen_below')} of the backbone frozen"
        + (" (cached trunk: their feature maps were computed once per photo, without "
           "augmentation; only the blocks above were run while training)"
           if info.get("cache_trunk") else ""),
        f"- input size {info.get('image_size')} px; augmentation: {_augment_text(cfg)}; "
        f"seed {cfg.get('seed')}",
        f"- {info.get('epochs_done')} epochs, {info.get('steps')} steps, "
        f"{info.get('elapsed_s', 0):.0f} s on {info.get('device')}",
        "",
        "## Recall on the validation split (%)",
        "",
        recall_table(info.get("before", {}), info.get("after", {})),
        verdict,
        "",
        f"Weights hash: `{info.get('weight_hash', '')}`. Files: `model.safetensors` (weights), "
        "`config.json` (base model, preprocessing, this summary), `training_log.jsonl` (one "
        "event per step). Loading never unpickles code.",
        "",
    ]
    if info.get("notes"):
        lines += ["## Notes", "", str(info["notes"]), ""]
    return "\n".join(lines)


_LOSS_NAMES = {
    "ranking": "ranking loss L_r (paper A Eq. 3 / NetVLAD)",
    "triplet": "triplet margin loss",
    "soft-triplet": "soft-margin triplet loss (paper D Eq. 3.8)",
    "dbl": "DBL-Net pair loss (paper D Eq. 3.6)",
    "edbl": "eDBL over every triplet of p×k batches (paper D)",
    "multi-positive": "multi-positive soft-triplet loss over p×k batches (paper D Eq. 5.2)",
    "haf": "multi-level score-weighted triplet loss, levels 0.1/0.4/0.5 (paper B)",
}


def _loss_text(cfg: dict[str, Any]) -> str:
    loss = cfg.get("loss", "ranking")
    text = _LOSS_NAMES.get(loss, f"{loss} loss")
    if loss in ("ranking", "triplet", "haf"):
        text += f", margin {cfg.get('margin')}"
    if loss in ("ranking", "triplet"):
        text += ", plain L2 distances" if cfg.get("plain_l2") else ", squared L2 distances"
    if loss in ("soft-triplet", "dbl", "edbl", "multi-positive"):
        text += f", feature scale {cfg.get('scale')}"
    if loss in ("edbl", "multi-positive"):
        text += f", p = {cfg.get('pk_places')} places × k = {cfg.get('pk_per_place')} photos"
    return text


def _augment_text(cfg: dict[str, Any]) -> str:
    if not cfg.get("augment"):
        return "off"
    if cfg.get("cache_trunk"):
        return "off (cached trunk)"
    parts = ["colour jitter"]
    if cfg.get("augment_crop"):
        parts.append("random resized crops")
    if cfg.get("flip"):
        parts.append("flips")
    if cfg.get("augment_erase"):
        parts.append("random erasing")
    return " + ".join(parts)
