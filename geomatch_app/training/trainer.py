"""Fine-tune a place model: paper A's objective L_u = L_r + α·MK-MMD (Eq. 1) by default.

One function, :func:`train`, used by ``geomatch train`` and the GUI dialog alike: it takes the
data (see :mod:`.sources`), a :class:`TrainConfig`, a ``Progress`` (cancel) and an ``on_event``
callback that receives a :class:`~geomatch_app.core.types.TrainEvent` per step and per epoch.
It writes a model directory (:mod:`geomatch_app.models.checkpoint`) and returns a
:class:`TrainResult` with recall before and after on the held-out places.

Why the network runs in eval mode while it learns: batches of a few tuples are far too small for
BatchNorm statistics, EfficientNet's drop-connect would make gradient caching's second forward
differ from the first, and fine-tuning with frozen BN statistics is what NetVLAD-style training
does anyway. Gradients still flow to every unfrozen parameter.

Paper-faithful defaults: NetVLAD-family heads that were never initialised are initialised from
the training images first (k-means, as NetVLAD and paper C prescribe); conv1–conv3 stay frozen
(paper A); augmentation is colour jitter only (paper C found crops neutral and erasing harmful);
target photos for MK-MMD are centre-cropped (paper A: 512×512) and MK-MMD compares conv5 maps.

``cache_trunk`` (CLI ``--cache-trunk``, the dialog's "fast" box): the frozen blocks run once per
photo and everything else — steps, mining, validation — runs on their cached maps
(:mod:`.trunk_cache`); same descriptors, a fraction of the CPU time, no augmentation.
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
from geomatch_app.training.batches import PKBatch, pk_batches
from geomatch_app.training.gradcache import forward_backward
from geomatch_app.training.mining import Miner, Tuple
from geomatch_app.training.objective import BATCH_LOSSES, LOSSES, Layout, Outputs, objective
from geomatch_app.training.sources import MatchRules, TrainData, check_sufficient
from geomatch_app.training.validation import evaluate_split

log = logging.getLogger(__name__)

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
    loss: str = "ranking"  # one of objective.LOSSES; ranking = paper A / NetVLAD
    margin: float = 0.1  # paper A, paper C
    plain_l2: bool = False  # ranking/triplet on plain L2 distances (paper C) instead of squared
    scale: float = 3.0  # feature scale for soft-triplet / DBL / eDBL / multi-positive (paper D)
    alpha: float = 0.99  # weight of MK-MMD in L_u = L_r + α·M (paper A Eq. 1)
    n_target: int = 8  # unlabelled target photos per step for MK-MMD
    target_crop: int = 512  # target photos are centre-cropped to this square (paper A)
    pk_places: int = 8  # batch losses: places per p×k batch
    pk_per_place: int = 4  # batch losses: photos per place (the query + k−1 positives)
    optimizer: str = "adam"  # adam (paper A) | sgd (paper B: momentum 0.9, step schedule)
    lr: float = 1e-5  # paper A
    head_lr: float | None = None  # learning rate of the pooling head (None: lr); a fresh
    # attention / context mask learns little at a trunk's fine-tuning rate in a short run
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step_epochs: int = 5  # sgd: halve the lr every this many epochs (paper B)
    lr_gamma: float = 0.5
    freeze_below: int | None = None  # backbone block index; None: conv1–conv3 frozen (paper A)
    image_size: int | None = None  # None: the base model's input size
    augment: bool = True  # colour jitter (the only augmentation paper C found to help)
    augment_crop: bool = False  # also random resized crops (neutral in paper C)
    augment_erase: bool = False  # also random erasing (hurt in paper C)
    flip: bool = False
    center_crop: int | None = None  # centre-crop training queries too (e.g. archive scans)
    netvlad_init_images: int = 500  # images k-means samples when a NetVLAD head is fresh
    min_pairs: int | None = None  # None: sources.MIN_TRAIN_PAIRS
    cache_chunk: int = 0  # gradient caching chunk in images (paper D); 0 = off
    cache_trunk: bool = False  # run the frozen blocks once per photo, train on cached maps
    trunk_cache_dir: str = ""  # cache_trunk: also keep the maps in this folder (re-used)
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
    netvlad_init: dict | None = None  # what automatic NetVLAD initialisation did, if it ran

    @property
    def improved(self) -> bool:
        """Whether validation recall beats the base model's: a higher R@1, or the same R@1 and a
        higher mean of R@1/5/10/20. Only an improved model should replace the old one."""
        return recall_improved(self.before, self.after)


def recall_improved(before: dict[str, float], after: dict[str, float]) -> bool:
    if not before or not after:
        return False
    keys = [k for k in ("R@1", "R@5", "R@10", "R@20") if k in before and k in after]
    if not keys:
        return False
    eps = 1e-9
    r1b, r1a = before.get("R@1", 0.0), after.get("R@1", 0.0)
    if r1a > r1b + eps:
        return True
    mean_b = sum(before[k] for k in keys) / len(keys)
    mean_a = sum(after[k] for k in keys) / len(keys)
    return abs(r1a - r1b) <= eps and mean_a > mean_b + eps


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


def paper_freeze_cut(model: torch.nn.Module) -> int:
    """Index of the first trainable backbone block under paper A's rule "conv1–conv3 frozen".

    AlexNet: conv4 is the first trainable layer (paper A). Other trunks: the blocks that run at
    an output stride ≤ 8 are frozen — ResNet's conv1, conv2_x, conv3_x; VGG's conv1–conv4 (the
    NetVLAD crop trains conv5); EfficientNet's / MobileNet's stem and first three stages. A
    trunk that never reaches stride 16 keeps its lower 60 % frozen.
    """
    blocks = backbone_blocks(model)
    with_params = [i for i, (_, b) in enumerate(blocks) if any(True for _ in b.parameters())]
    if not with_params:
        return 0
    if type(model.backbone).__name__ == "AlexNetTrunk":
        return 8  # features[8] is conv4
    size = int(model.preprocess.size)
    sizes: list[int] = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: sizes.append(_spatial(out)))
             for _, b in blocks]
    try:
        with torch.no_grad():
            dev = next(model.parameters()).device
            model.features(torch.zeros(1, 3, size, size, device=dev))
    finally:
        for h in hooks:
            h.remove()
    if len(sizes) == len(blocks):
        for i, s in enumerate(sizes):
            if s and size / s >= 16 - 1e-6:
                later = [j for j in with_params if j >= i]
                if later:
                    return later[0]
    return with_params[min(len(with_params) - 1, int(0.6 * len(with_params)))]


def _spatial(out) -> int:
    t = out[-1] if isinstance(out, (list, tuple)) else out
    return int(t.shape[-1]) if isinstance(t, torch.Tensor) and t.dim() == 4 else 0


def freeze_lower(model: torch.nn.Module, freeze_below: int | None) -> int:
    """Freeze backbone blocks with index < ``freeze_below`` (negative: from the end; None:
    :func:`paper_freeze_cut`). Returns the block index used."""
    blocks = backbone_blocks(model)
    if freeze_below is None:
        cut = paper_freeze_cut(model)
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
    if cfg.cache_trunk and cfg.loss == "haf":
        raise GeomatchError("--cache-trunk does not work with the haf loss (its trunk has "
                            "several taps)", hint="train without --cache-trunk")
    if cfg.loss in BATCH_LOSSES and (cfg.pk_places < 2 or cfg.pk_per_place < 2):
        raise GeomatchError(f"the {cfg.loss} loss needs p×k batches with p ≥ 2 and k ≥ 2",
                            hint="raise --pk-places / --pk-per-place")


def _needs_netvlad_init(model) -> bool:
    from geomatch_app.models.layers import NetVLAD

    head = getattr(model, "head", None)
    return isinstance(head, NetVLAD) and not bool(head.initialised)


def auto_init_netvlad(model, data: TrainData, cfg: TrainConfig,
                      progress: Progress, cache=None) -> dict | None:
    """Initialise a NetVLAD-family head that was never initialised, from the training images
    (paper C: k-means centroids are what makes NetVLAD work; random ones give near-identical
    descriptors for unrelated photos). Returns the summary for the log and the model card.
    With a :class:`~.trunk_cache.TrunkCache` the local descriptors come from cached maps."""
    if not _needs_netvlad_init(model):
        return None
    from geomatch_app.models.netvlad_init import init_netvlad

    paths = sorted({p.path for p in (*data.train.gallery, *data.train.queries)})
    rng = np.random.default_rng(cfg.seed)
    if len(paths) > cfg.netvlad_init_images:
        paths = sorted(rng.choice(paths, cfg.netvlad_init_images, replace=False).tolist())
    if cache is not None:  # the same images, batches of cached maps through the suffix
        batches = [cache.get(paths[i:i + 8], progress=progress) for i in range(0, len(paths), 8)]
        summary = init_netvlad(cache.suffix_model(), batches, n_descriptors=50_000,
                               seed=cfg.seed, progress=progress)
    else:
        summary = init_netvlad(model, paths, n_descriptors=50_000, seed=cfg.seed,
                               progress=progress)
    summary["images"] = len(paths)
    log.info("the NetVLAD head of %s was uninitialised: initialised it from %d training "
             "images (k-means on %d local descriptors, K=%d, alpha=%.1f)", cfg.model,
             len(paths), summary["descriptors"], summary["clusters"], summary["alpha"])
    return summary


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
    check_sufficient(data, cfg.min_pairs)
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
    cache = net = embed_fn = None
    if cfg.cache_trunk:
        from geomatch_app.training.trunk_cache import TrunkCache

        cache = TrunkCache(model, frozen_below, directory=cfg.trunk_cache_dir or None,
                           device=dev)
        net = cache.suffix_model()

        def embed_fn(paths: list[str]) -> np.ndarray:
            return cache.embed(paths, progress=progress)

        log.info("cached trunk: blocks below %d run once per photo (no augmentation on this "
                 "path)%s", frozen_below,
                 f", maps kept in {cfg.trunk_cache_dir}" if cfg.trunk_cache_dir else "")
    resuming = cfg.resume and resume_state.has_state(out_dir)
    before: dict[str, float] = {}
    if not resuming and data.val.queries:
        # recall of the base model exactly as the user has it: what a new model must beat
        before = evaluate_split(model, data.val, cfg.eval_rules, device=str(dev),
                                progress=progress, embed=embed_fn)
        emit(TrainEvent(0, 0, 0, {}, dict(before), None, "before training"))
    netvlad_init = None if resuming else auto_init_netvlad(model, data, cfg, progress, cache)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise GeomatchError("every layer is frozen", hint="lower --freeze-below")
    groups = _param_groups(model, trainable, cfg)
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = None
    else:
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step_epochs, cfg.lr_gamma)

    hooks = _cancel_hooks(model, progress)
    try:
        events: list[dict] = []
        start_epoch = 0
        if before:
            events.append(asdict(TrainEvent(0, 0, 0, {}, dict(before), None, "before training")))
        if resuming:
            info = resume_state.load_state(out_dir, model, opt, sched)
            start_epoch = int(info["epoch"])
            events = list(info.get("events", []))
            before = dict(info.get("before", {}))
            netvlad_init = info.get("netvlad_init")
            log.info("resuming %s after epoch %d", out_dir, start_epoch)

        aug = AugmentConfig(enabled=cfg.augment and cache is None, flip=cfg.flip,
                            crop=cfg.augment_crop, erase_p=0.5 if cfg.augment_erase else 0.0)
        source = ImageSource(model.preprocess, aug, seed=cfg.seed)
        if cache is not None:
            def feed(paths: list[str], crop: int | None = None) -> torch.Tensor:
                return cache.get(paths, crop, progress=progress)
        else:
            def feed(paths: list[str], crop: int | None = None) -> torch.Tensor:
                return source.batch(paths, center_crop=crop)
        outputs = Outputs(net if net is not None else model,
                          maps=bool(target) and cfg.n_target > 0, levels=cfg.loss == "haf")
        if cfg.loss == "haf" and not hasattr(model.head, "level_outputs"):
            raise GeomatchError(f"the haf loss needs a hierarchical model, not {cfg.model!r}",
                                hint="use vgg16-haf, or another --loss")
        n_q = len(split) if not cfg.queries_per_epoch else min(len(split), cfg.queries_per_epoch)
        per_step = cfg.pk_places if cfg.loss in BATCH_LOSSES else cfg.batch_size
        steps_per_epoch = math.ceil(n_q / per_step)
        total_steps = steps_per_epoch * cfg.epochs
        step = steps_per_epoch * start_epoch
        step_times: list[float] = []
        val_s = 0.0
        after = dict(before)

        def embed(paths: list[str], crop: int | None) -> np.ndarray:
            if cache is not None:
                return cache.embed(paths, crop, progress=progress)
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
            if cfg.loss in BATCH_LOSSES:
                batches = pk_batches(split, order, cfg.pk_places, cfg.pk_per_place, rng)
            else:
                miner = Miner(split, embed_for_mining, n_cache=cfg.neg_cache, n_hard=cfg.n_neg,
                              refresh_every=cfg.refresh_every, seed=seed)
                batches = _grouped(miner.tuples(order), cfg.batch_size)
            for batch in batches:
                t0 = time.monotonic()
                terms = _train_step(opt, batch, split, target, feed, outputs, cfg,
                                    rng, dev, autocast, progress)
                step_times.append(time.monotonic() - t0)
                step += 1
                eta = _eta(step_times, total_steps - step, val_s, cfg.epochs - epoch)
                ev = TrainEvent(epoch + 1, step, total_steps, terms, {}, eta,
                                f"epoch {epoch + 1}/{cfg.epochs}")
                events.append(asdict(ev))
                emit(ev)
                progress.step(min(step, total_steps), total_steps,
                              f"epoch {epoch + 1}/{cfg.epochs} loss {terms['loss']:.4f}")
            if sched is not None:
                sched.step()
            last = epoch == cfg.epochs - 1
            if data.val.queries and (cfg.val_every_epoch or last):
                tv = time.monotonic()
                after = evaluate_split(model, data.val, cfg.eval_rules, device=str(dev),
                                       max_queries=None if last else cfg.val_max_queries,
                                       progress=progress, embed=embed_fn)
                val_s = time.monotonic() - tv
                ev = TrainEvent(epoch + 1, step, total_steps, {}, dict(after),
                                _eta(step_times, total_steps - step, val_s, cfg.epochs - epoch - 1),
                                f"validation after epoch {epoch + 1}")
                events.append(asdict(ev))
                emit(ev)
            if not last:
                resume_state.save_state(out_dir, model, opt, sched,
                                        {"epoch": epoch + 1, "events": events, "before": before,
                                         "netvlad_init": netvlad_init})
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
        "netvlad_init": netvlad_init,
        "improved": recall_improved(before, after),
        "frozen_below": frozen_below,
        "cache_trunk": bool(cache is not None),
        "augment": bool(aug.enabled),
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
                       data.n_pairs, netvlad_init)


def _param_groups(model, trainable: list, cfg: TrainConfig) -> list[dict]:
    """One optimiser group, or two when ``head_lr`` differs: the head's parameters at
    ``head_lr``, the rest (backbone, projection) at ``lr``."""
    if cfg.head_lr is None or cfg.head_lr == cfg.lr:
        return [{"params": trainable}]
    head = {id(p) for p in model.head.parameters()}
    return [{"params": [p for p in trainable if id(p) not in head]},
            {"params": [p for p in trainable if id(p) in head], "lr": cfg.head_lr}]


def _eta(step_times: list[float], steps_left: int, val_s: float, vals_left: int) -> float:
    recent = step_times[-20:]
    per = sum(recent) / len(recent) if recent else 0.0
    return per * max(0, steps_left) + val_s * max(0, vals_left)


def _grouped(tuples, size: int):
    batch: list[Tuple] = []
    for t in tuples:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _train_step(opt, batch: list[Tuple] | PKBatch, split, target: list[str],
                feed: Callable[..., torch.Tensor], outputs: Outputs, cfg: TrainConfig,
                rng: np.random.Generator, dev: torch.device, autocast,
                progress: Progress) -> dict[str, float]:
    """One optimiser step on a batch of mined tuples or a p×k batch (+ target photos).
    ``feed(paths, centre_crop)`` gives the network's input: (augmented) images, or the cached
    trunk maps of :mod:`.trunk_cache`."""
    if isinstance(batch, PKBatch):
        paths = [split.queries[i].path if kind == "q" else split.gallery[i].path
                 for kind, i in batch.items]
        crops = [cfg.center_crop if kind == "q" else None for kind, _ in batch.items]
        src = torch.stack([feed([p], c)[0] for p, c in zip(paths, crops, strict=True)])
        layout = Layout(n_source=len(paths), labels=torch.tensor(batch.labels))
    else:
        b, n_neg = len(batch), cfg.n_neg
        neg_ids = []
        mask = torch.zeros(b, n_neg, dtype=torch.bool)
        for i, t in enumerate(batch):
            negs = list(t.negatives)[:n_neg]
            mask[i, :len(negs)] = True
            negs += [negs[0]] * (n_neg - len(negs))  # padding, masked out of loss and MMD
            neg_ids.append(negs)
        paths_q = [split.queries[t.query].path for t in batch]
        paths_g = [split.gallery[t.positive].path for t in batch]
        paths_g += [split.gallery[j].path for negs in neg_ids for j in negs]
        src = torch.cat([feed(paths_q, cfg.center_crop), feed(paths_g)])
        layout = Layout(n_source=len(src), b=b, n_neg=n_neg, neg_mask=mask.to(dev))
    n_t = min(cfg.n_target, len(target)) if outputs.want_maps else 0
    parts = [src]
    if n_t:
        pick = rng.choice(len(target), n_t, replace=False)
        # paper A: target photos centre-cropped to a square (512 px) before the model's resize
        parts.append(feed([target[int(i)] for i in pick], cfg.target_crop))
    layout.n_target = n_t
    progress.check()
    images = torch.cat(parts).to(dev, non_blocking=True)
    opt.zero_grad(set_to_none=True)
    _, terms = forward_backward(
        outputs, images, lambda flat: objective(flat, outputs, layout, cfg),
        chunk=cfg.cache_chunk, autocast=autocast, check=progress.check)
    opt.step()
    return terms
