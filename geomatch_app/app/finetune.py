"""Fine-tune on confirmed pairs (or a manifest) and register the new model — the one path under
`geomatch train` and Tools → Fine-tune. Gathering the data reads the database and the gallery,
so it runs inside the job, never on the GUI thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from geomatch_app.app.indexing import build
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.paths import user_data_dir
from geomatch_app.core.progress import Cancelled, Progress
from geomatch_app.core.types import Photo

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from geomatch_app.index import Index
    from geomatch_app.store import Store
    from geomatch_app.training.sources import MatchRules, TrainData
    from geomatch_app.training.trainer import TrainConfig, TrainResult


@dataclass
class DataSpec:
    """Where the training pairs come from: the store's confirmed pairs (against ``gallery``,
    default the store's own gallery images) or a manifest; optional unlabelled target photos
    for MK-MMD (a folder or manifest, and/or the store's open queries)."""

    store: Store | None = None
    manifest: str = ""
    gallery: str | list[Photo] | None = None  # index folder, manifest, or photos
    target_dir: str = ""
    use_queue: bool = False
    val_fraction: float = 0.2
    max_train_queries: int | None = None


def default_out(model: str) -> Path:
    base = Path(model).name if Path(model).exists() else model
    return user_data_dir() / "models" / f"{base}-ft-{time.strftime('%Y%m%d-%H%M%S')}"


def load_gallery(src: str | list[Photo] | None) -> list[Photo] | None:
    """Gallery photos from an index folder (its records), a manifest / folder, or as given."""
    if src is None or isinstance(src, list):
        return src
    from geomatch_app.index import Index, is_index

    if is_index(src):
        return Index.open(src).photos
    from geomatch_app.data.gallery import load_photos

    return load_photos(src, role="gallery").photos


def gather(spec: DataSpec, rules: MatchRules, seed: int = 0) -> tuple[TrainData, list[str]]:
    """The training data and the target photos of ``spec``."""
    from geomatch_app.training import sources

    if spec.store is not None:
        data = sources.from_store(spec.store, load_gallery(spec.gallery), rules,
                                  spec.val_fraction)
    elif spec.manifest:
        data = sources.from_manifest(spec.manifest, rules, spec.val_fraction,
                                     spec.max_train_queries, seed)
    else:
        raise GeomatchError("no training data", hint="open a curation database with confirmed "
                            "pairs, or choose a manifest")
    target = sources.target_paths(spec.target_dir) if spec.target_dir else []
    if spec.target_dir and not target:
        raise GeomatchError("has no images", spec.target_dir,
                            "give a folder or manifest of unlabelled photos")
    if spec.use_queue and spec.store is not None:
        target += [q.path for q in spec.store.queries(status="open")]
    return data, target


def finetune(spec: DataSpec, config: TrainConfig, *, progress: Progress | None = None,
             on_event: Callable | None = None,
             on_data: Callable[[TrainData, list[str]], None] | None = None) -> TrainResult:
    """Gather the data, train, and register the new model in the store (when one is open).
    ``on_data`` is told what was gathered before training starts (the CLI prints it)."""
    from geomatch_app.models.checkpoint import is_model_dir
    from geomatch_app.training.trainer import train

    if is_model_dir(config.out_dir) and not config.resume:
        raise GeomatchError("already holds a model", config.out_dir,
                            "choose another name, or resume the interrupted run")
    data, target = gather(spec, config.train_rules, config.seed)
    if on_data is not None:
        on_data(data, target)
    result = train(data, config, target=target, progress=progress, on_event=on_event)
    recalibrate(result.model_dir, progress)
    if spec.store is not None:
        register_model(spec.store, result)
    return result


def recalibrate(model_dir: str | Path, progress: Progress | None = None) -> bool:
    """Refit the match-probability calibration for the new weights (training.calibration) when
    the base model has one; writes ``calibration.json`` and the card's section. Failing or
    cancelled, the model stays as saved, only uncalibrated (its p_match is then not shown)."""
    from geomatch_app.models.checkpoint import read_config
    from geomatch_app.training.calibration import builtin_calibration_path, refit_model_dir

    base = read_config(model_dir).get("base_model", "")
    if not base or not builtin_calibration_path(base).is_file():
        log.info("%s: base model %s has no calibration; not calibrated", model_dir, base)
        return False
    try:
        refit_model_dir(model_dir, device="cpu", progress=progress)
    except (GeomatchError, OSError, Cancelled) as exc:
        log.warning("%s: calibration not refitted (%s); the model is saved uncalibrated",
                    model_dir, exc or "cancelled")
        return False
    return True


def register_model(store: Store, result: TrainResult) -> int:
    from geomatch_app.models import get_model

    model = get_model(str(result.model_dir))
    card = (Path(result.model_dir) / "README.md").read_text(encoding="utf-8")
    return store.register_model(result.model_name, weight_hash=model.weight_hash(), card=card,
                                fingerprint=model.fingerprint())


def reindex(model_name: str, *, index: Index | None = None, store: Store | None = None,
            device: str = "auto", progress: Progress | None = None) -> Index:
    """Rebuild the gallery with ``model_name`` into a new index folder beside the old one (the
    old index is never replaced) and register it in the store."""
    if index is not None:
        source: list[Photo] = index.photos
        out = index.folder.with_name(f"{index.folder.name}-{Path(model_name).name}")
    elif store is not None:
        source = [Photo(r.path, r.lat, r.lon, r.heading, r.place_id or "", "", "gallery")
                  for r in store.images()]
        out = user_data_dir() / "indexes" / Path(model_name).name
    else:
        source = []
    if not source:
        raise GeomatchError("there is no gallery to re-index",
                            hint=f"build an index with {model_name} from File → Build index")
    return build(source, out, model=model_name, device=device, workers=0, rebuild=True,
                 store=store, progress=progress)
