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
    losses = "ranking loss (paper A, margin {m})".format(m=cfg.get("margin"))
    if cfg.get("loss") != "ranking":
        losses = f"{cfg.get('loss')} loss (margin {cfg.get('margin')})"
    if info.get("n_target"):
        losses = (f"α·{losses} + (1−α)·MK-MMD to {info['n_target']} unlabelled target photos, "
                  f"α = {cfg.get('alpha')}")
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
        f"- mining: {cfg.get('neg_cache')} random negatives per query, {cfg.get('n_neg')} hardest "
        f"kept, refreshed every {cfg.get('refresh_every')} queries; best positive",
        f"- optimiser: {cfg.get('optimizer')} lr {cfg.get('lr')}; batch {cfg.get('batch_size')} "
        f"tuples; gradient-cache chunk {cfg.get('cache_chunk') or 'off'}; layers below block "
        f"{info.get('frozen_below')} of the backbone frozen",
        f"- input size {info.get('image_size')} px; augmentation "
        f"{'on' if cfg.get('augment') else 'off'}; seed {cfg.get('seed')}",
        f"- {info.get('epochs_done')} epochs, {info.get('steps')} steps, "
        f"{info.get('elapsed_s', 0):.0f} s on {info.get('device')}",
        "",
        "## Recall on the validation split (%)",
        "",
        recall_table(info.get("before", {}), info.get("after", {})),
        f"Weights hash: `{info.get('weight_hash', '')}`. Files: `model.safetensors` (weights), "
        "`config.json` (base model, preprocessing, this summary), `training_log.jsonl` (one "
        "event per step). Loading never unpickles code.",
        "",
    ]
    if info.get("notes"):
        lines += ["## Notes", "", str(info["notes"]), ""]
    return "\n".join(lines)
