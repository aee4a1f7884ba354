"""Fine-tune a place model on mined tuples: paper A's objective α·L_r + (1−α)·MK-MMD.

One function, :func:`train`, used by ``geomatch train`` and the GUI dialog alike: it takes the
data (see :mod:`.sources`), a :class:`TrainConfig`, a ``Progress`` (cancel) and an ``on_event``
callback that receives a :class:`~geomatch_app.core.types.TrainEvent` per step and per epoch.
It writes a model directory (:mod:`geomatch_app.models.checkpoint`) and returns a
:class:`TrainResult` with recall before and after on the held-out places.

Why the network runs in eval mode while it learns: batches of a few tuples are far too small for
BatchNorm statistics, EfficientNet's drop-connect would make gradient caching's second forward
differ from the first, and fine-tuning with frozen BN statistics is what NetVLAD-style training
does anyway. Gradients still flow to every unfrozen parameter.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress
from geomatch_app.core.types import TrainEvent
from geomatch_app.models.device import resolve_device
from geomatch_app.training.augment import AugmentConfig, ImageSource
from geomatch_app.training.gradcache import forward_backward
from geomatch_app.training.mining import Miner, Tuple
from geomatch_app.training.sources import MatchRules, TrainData
from geomatch_app.training.validation import evaluate_split

log = logging.getLogger(__name__)

LOSSES = ("ranking", "triplet", "soft-triplet")
OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainConfig:
    model: str = "effnetlite2-gem"  # registered name, fine-tuned name or model directory
    out_dir: str = ""
    epochs: int = 5
    queries_per_epoch: int | None = None  # None: every training query once per epoch
    batch_size: int = 4  # tuples per optimiser step
    n_neg: int = 10  # hardest negatives kept per query (paper A)
    neg_cache: int = 1000  # random negatives scored per query (paper A)
    refresh_every: int = 1000  # queries between descriptor refreshes (paper A)
    loss: str = "ranking"  # ranking (paper A) | triplet | soft-triplet
    margin: float = 0.1  # paper A
    alpha: float = 0.99  # weight of the ranking loss when MK-MMD is on (paper A)
    n_target: int = 8  # unlabelled target photos per step for MK-MMD
    optimizer: str = "adam"  # adam (paper A) | sgd (paper B: momentum 0.9, step schedule)
    lr: float = 1e-5  # paper A
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step_epochs: int = 5  # sgd: halve the lr every this many epochs (paper B)
    lr_gamma: float = 0.5
    freeze_below: int | None = None  # backbone block index; None: the lower half is frozen
    image_size: int | None = None  # None: the base model's input size
    augment: bool = True
    flip: bool = False
    center_crop: int | None = None  # paper A: centre-crop archive queries/targets (e.g. 512)
    cache_chunk: int = 0  # gradient caching chunk in images (paper D); 0 = off
    device: str = "auto"
    seed: int = 0
    val_every_epoch: bool = True
    val_max_queries: int | None = None  # subsample validation queries during training
    eval_rules: MatchRules = field(default_factory=MatchRules)  # what counts as correct
    train_rules: MatchRules = field(default_factory=MatchRules)  # recorded in the card
    resume: bool = False
    keep_resume_state: bool = False
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["pos_m"], d["neg_m"] = self.train_rules.pos_m, self.train_rules.neg_m
        d["pos_frames"], d["neg_frames"] = self.train_rules.pos_frames, self.train_rules.neg_frames
        return d


@dataclass
class TrainResult:
    model_dir: Path
    model_name: str
    before: dict[str, float]
    after: dict[str, float]
    events: list[dict]
    elapsed_s: float
    n_pairs: int


# ---------------------------------------------------------------------------- helpers


def backbone_blocks(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """The backbone as an ordered list of blocks: its children, with long ModuleLists /
    Sequentials (EfficientNet's ``_blocks``, VGG's ``features``) expanded one level."""
    def expand(prefix: str, mod: torch.nn.Module, depth: int) -> list[tuple[str, Any]]:
        children = list(mod.named_children())
        out = []
        for name, child in children:
            full = f"{prefix}.{name}" if prefix else name
            long = isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential)) and len(child) >= 4
            wrapper = len(children) == 1 and any(True for _ in child.children())
            if depth < 3 and (long or wrapper):
                out += expand(full, child, depth + 1)
            else:
                out.append((full, child))
        return out

    return expand("", model.backbone, 0)


def freeze_lower(model: torch.nn.Module, freeze_below: int | None) -> int:
    """Freeze backbone blocks with index < ``freeze_below`` (negative: from the end; None: the
    lower half of the blocks that have parameters). Returns the block index used."""
    blocks = backbone_blocks(model)
    with_params = [i for i, (_, b) in enumerate(blocks) if any(True for _ in b.parameters())]
    if freeze_below is None:
        cut = with_params[len(with_params) // 2] if with_params else 0
    elif freeze_below < 0:
        cut = max(0, len(blocks) + freeze_below)
    else:
        cut = min(freeze_below, len(blocks))
    for i, (_, b) in enumerate(blocks):
        for p in b.parameters():
            p.requires_grad_(i >= cut)
    return cut


def _cancel_hooks(model: torch.nn.Module, progress: Progress) -> list:
    """Check for cancel before every backbone block, forward and backward: a big batch on a
    slow CPU stops within one block's compute instead of one whole step (< 1 s)."""
    def hook(_mod, _arg):
        progress.check()

    blocks = [b for _, b in backbone_blocks(model)]
    hooks = [b.register_forward_pre_hook(hook) for b in blocks]
    hooks += [b.register_full_backward_pre_hook(hook) for b in blocks
              if any(p.requires_grad for p in b.parameters())]
    return hooks


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % 2**31


def _autocast(dev: torch.device):
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    from contextlib import nullcontext

    return nullcontext


def objective(desc: torch.Tensor, b: int, n_neg: int, n_target: int, neg_mask: torch.Tensor,
              cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch laid out as [queries(b), positives(b), negatives(b·n_neg), targets]."""
    from geomatch_app.models import losses

    q = desc[:b]
    p = desc[b:2 * b]
    n = desc[2 * b:2 * b + b * n_neg].reshape(b, n_neg, -1)
    if cfg.loss == "ranking":
        rank = losses.ranking_loss(q, p[:, None], n, margin=cfg.margin, neg_mask=neg_mask)
    else:
        qa = q[:, None].expand_as(n)[neg_mask]
        pa = p[:, None].expand_as(n)[neg_mask]
        if cfg.loss == "triplet":
            rank = losses.triplet_loss(qa, pa, n[neg_mask], margin=cfg.margin)
        else:
            rank = losses.soft_triplet_loss(qa, pa, n[neg_mask], scale=3.0)
    terms = {"ranking": float(rank.detach())}
    if n_target:
        source = desc[b:2 * b + b * n_neg]  # the gallery's domain
        target = desc[2 * b + b * n_neg:]
        mmd = losses.mk_mmd(source, target)
        total = losses.domain_adapted_loss(rank, mmd, alpha=cfg.alpha)
        terms["mmd"] = float(mmd.detach())
    else:
        total = rank
    terms["loss"] = float(total.detach())
    return total, terms


def _check_config(cfg: TrainConfig) -> None:
    if cfg.loss not in LOSSES:
        raise GeomatchError(f"unknown loss {cfg.loss!r}", hint=f"choose one of {LOSSES}")
    if cfg.optimizer not in OPTIMIZERS:
        raise GeomatchError(f"unknown optimizer {cfg.optimizer!r}",
                            hint=f"choose one of {OPTIMIZERS}")
    if not cfg.out_dir:
        raise GeomatchError("no output folder given", hint="pass --out DIR")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.n_neg < 1:
        raise GeomatchError("epochs, batch size and negatives must be at least 1")


# ---------------------------------------------------------------------------- training


def train(data: TrainData, config: TrainConfig, target: list[str] | None = None,
          progress: Progress | None = None,
          on_event: Callable[[TrainEvent], None] | None = None) -> TrainResult:
    """Fine-tune ``config.model`` on ``data.train``; validate on ``data.val``; save to
    ``config.out_dir``. Raises ``Cancelled`` when the progress is cancelled (the last finished
    epoch stays on disk; ``config.resume`` continues from it)."""
    from geomatch_app.models import get_model
    from geomatch_app.models.checkpoint import save_model
    from geomatch_app.training import state as resume_state
    from geomatch_app.training.card import model_card

    cfg = config
    _check_config(cfg)
    progress = progress or Progress()
    emit = on_event or (lambda ev: None)
    target = list(target or [])
    split = data.train
    if len(split) == 0:
        raise GeomatchError("no training query has a positive in the gallery",
                            hint="check the place ids / locations, or lower the validation share")
    out_dir = Path(cfg.out_dir)
    t_start = time.monotonic()
    _seed_all(cfg.seed)
    dev = resolve_device(cfg.device)
    autocast = _autocast(dev)

    progress.step(0, 1, f"loading {cfg.model}")
    model = get_model(cfg.model)
    base_hash = model.weight_hash()
    base_name = getattr(model, "base_model", "") or model.name
    if cfg.image_size:
        model.preprocess = replace(model.preprocess, size=int(cfg.image_size))
    model.to(dev).eval()
    frozen_below = freeze_lower(model, cfg.freeze_below)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise GeomatchError("every layer is frozen", hint="lower --freeze-below")
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = None
    else:
        opt = torch.optim.SGD(trainable, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step_epochs, cfg.lr_gamma)

    hooks = _cancel_hooks(model, progress)
    try:
        events: list[dict] = []
        start_epoch = 0
        before: dict[str, float] = {}
        if cfg.resume and resume_state.has_state(out_dir):
            info = resume_state.load_state(out_dir, model, opt, sched)
            start_epoch = int(info["epoch"])
            events = list(info.get("events", []))
            before = dict(info.get("before", {}))
            log.info("resuming %s after epoch %d", out_dir, start_epoch)
        if not before and data.val.queries:
            before = evaluate_split(model, data.val, cfg.eval_rules, device=str(dev),
                                    progress=progress)
            emit(TrainEvent(start_epoch, 0, 0, {}, dict(before), None, "before training"))

        source = ImageSource(model.preprocess, AugmentConfig(enabled=cfg.augment, flip=cfg.flip,
                                                             center_crop=None), seed=cfg.seed)
        n_q = len(split) if not cfg.queries_per_epoch else min(len(split), cfg.queries_per_epoch)
        steps_per_epoch = math.ceil(n_q / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs
        step = steps_per_epoch * start_epoch
        step_times: list[float] = []
        val_s = 0.0
        after = dict(before)

        def embed(paths: list[str], crop: int | None) -> np.ndarray:
            out = []
            with torch.no_grad():
                for i in range(0, len(paths), 64):
                    progress.check()
                    x = source.batch(paths[i:i + 64], augment=False, center_crop=crop).to(dev)
                    with autocast():
                        out.append(model(x).float().cpu().numpy())
            return np.concatenate(out) if out else np.zeros((0, model.dim), np.float32)

        def embed_for_mining(g_idx: np.ndarray, q_idx: np.ndarray):
            progress.report(step, total_steps, "mining hard negatives")
            g = embed([split.gallery[int(i)].path for i in g_idx], None)
            q = embed([split.queries[int(i)].path for i in q_idx], cfg.center_crop)
            return g, q

        for epoch in range(start_epoch, cfg.epochs):
            seed = _epoch_seed(cfg.seed, epoch)
            rng = np.random.default_rng(seed)
            source.rng.seed(seed)
            source.gen.manual_seed(seed)
            order = rng.permutation(len(split))[:n_q]
            miner = Miner(split, embed_for_mining, n_cache=cfg.neg_cache, n_hard=cfg.n_neg,
                          refresh_every=cfg.refresh_every, seed=seed)
            batch: list[Tuple] = []
            tuples = miner.tuples(order)
            while True:
                t = next(tuples, None)
                if t is not None:
                    batch.append(t)
                    if len(batch) < cfg.batch_size:
                        continue
                if not batch:
                    break
                t0 = time.monotonic()
                terms = _train_step(model, opt, batch, split, target, source, cfg, rng, dev,
                                    autocast, progress)
                step_times.append(time.monotonic() - t0)
                step += 1
                batch = []
                eta = _eta(step_times, total_steps - step, val_s, cfg.epochs - epoch)
                ev = TrainEvent(epoch + 1, step, total_steps, terms, {}, eta,
                                f"epoch {epoch + 1}/{cfg.epochs}")
                events.append(asdict(ev))
                emit(ev)
                progress.step(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs} "
                                                 f"loss {terms['loss']:.4f}")
                if t is None:
                    break
            if sched is not None:
                sched.step()
            last = epoch == cfg.epochs - 1
            if data.val.queries and (cfg.val_every_epoch or last):
                tv = time.monotonic()
                after = evaluate_split(model, data.val, cfg.eval_rules, device=str(dev),
                                       max_queries=None if last else cfg.val_max_queries,
                                       progress=progress)
                val_s = time.monotonic() - tv
                ev = TrainEvent(epoch + 1, step, total_steps, {}, dict(after),
                                _eta(step_times, total_steps - step, val_s, cfg.epochs - epoch - 1),
                                f"validation after epoch {epoch + 1}")
                events.append(asdict(ev))
                emit(ev)
            if not last:
                resume_state.save_state(out_dir, model, opt, sched,
                                        {"epoch": epoch + 1, "events": events, "before": before})
    finally:
        for h in hooks:
            h.remove()

    for p in model.parameters():
        p.requires_grad_(True)
    model.cpu().eval()
    elapsed = time.monotonic() - t_start
    info = {
        "base_model": base_name,
        "base_weight_hash": base_hash,
        "data": data.source or split.description,
        "n_pairs": data.n_pairs,
        "n_train_queries": len(split),
        "n_train_gallery": len(split.gallery),
        "n_train_places": len(split.places),
        "n_val_queries": len(data.val.queries),
        "n_val_gallery": len(data.val.gallery),
        "n_val_places": len(data.val.places),
        "n_target": len(target),
        "frozen_below": frozen_below,
        "image_size": model.preprocess.size,
        "epochs_done": cfg.epochs,
        "steps": step,
        "elapsed_s": round(elapsed, 1),
        "device": str(dev),
        "before": before,
        "after": after,
        "weight_hash": model.weight_hash(),
        "config": cfg.to_json(),
        "notes": cfg.notes,
    }
    model_dir = save_model(model, out_dir, base_model=base_name,
                           base_kwargs=getattr(model, "base_kwargs", None),
                           card=model_card(out_dir.name, info), events=events,
                           extra={"training": info})
    if not cfg.keep_resume_state:
        shutil.rmtree(resume_state.resume_dir(out_dir), ignore_errors=True)
    from geomatch_app.models.checkpoint import model_name_for

    return TrainResult(model_dir, model_name_for(model_dir), before, after, events, elapsed,
                       data.n_pairs)


def _eta(step_times: list[float], steps_left: int, val_s: float, vals_left: int) -> float:
    recent = step_times[-20:]
    per = sum(recent) / len(recent) if recent else 0.0
    return per * max(0, steps_left) + val_s * max(0, vals_left)


def _train_step(model, opt, batch: list[Tuple], split, target: list[str], source: ImageSource,
                cfg: TrainConfig, rng: np.random.Generator, dev: torch.device, autocast,
                progress: Progress) -> dict[str, float]:
    b = len(batch)
    n_neg = cfg.n_neg
    neg_ids = []
    mask = torch.zeros(b, n_neg, dtype=torch.bool)
    for i, t in enumerate(batch):
        negs = list(t.negatives)[:n_neg]
        mask[i, :len(negs)] = True
        negs += [negs[0]] * (n_neg - len(negs))  # padding, masked out of the loss
        neg_ids.append(negs)
    paths_q = [split.queries[t.query].path for t in batch]
    paths_g = [split.gallery[t.positive].path for t in batch]
    paths_g += [split.gallery[j].path for negs in neg_ids for j in negs]
    n_t = min(cfg.n_target, len(target)) if target else 0
    paths_t = [target[int(i)] for i in rng.choice(len(target), n_t, replace=False)] if n_t else []
    progress.check()
    images = torch.cat([source.batch(paths_q, center_crop=cfg.center_crop),
                        source.batch(paths_g)]
                       + ([source.batch(paths_t, center_crop=cfg.center_crop)] if n_t else []))
    images = images.to(dev, non_blocking=True)
    mask = mask.to(dev)
    opt.zero_grad(set_to_none=True)
    _, terms = forward_backward(
        model, images, lambda d: objective(d, b, n_neg, n_t, mask, cfg),
        chunk=cfg.cache_chunk, autocast=autocast, check=progress.check)
    opt.step()
    return terms
