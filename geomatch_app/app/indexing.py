"""Build or update an index, and register its gallery in the store when a database is open
(GUI with a project, CLI with ``--db``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from geomatch_app.app.project import register_index
from geomatch_app.core.progress import Progress
from geomatch_app.data.gallery import ImportReport
from geomatch_app.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from geomatch_app.index import Index, IndexOptions
    from geomatch_app.store import Store


def build(source: str | Path | list, index_dir: str | Path, *, model: str = DEFAULT_MODEL,
          device: str = "auto", batch_size: int | None = None, workers: int | None = None,
          rebuild: bool = False, report: ImportReport | None = None,
          store: Store | None = None, progress: Progress | None = None,
          options: IndexOptions | None = None, engine: str = "local",
          ray_options: dict | None = None) -> Index:
    """Index ``source`` (folder, manifest or list of Photo) into ``index_dir``; with ``store``,
    register the gallery, its images and the index there too. ``options``: the search
    structure (index type, PCA), chosen from the gallery size by default. ``engine="ray"``
    embeds on a Ray cluster (``ray_options``: address, num_gpus, shards)."""
    if engine == "ray":
        from geomatch_app.index.ray_engine import build_index_ray

        index = build_index_ray(source, index_dir, model, device=device,
                                batch_size=batch_size, options=options, progress=progress,
                                report=report, **(ray_options or {}))
    else:
        from geomatch_app.index import build_index

        index = build_index(source, index_dir, model_name=model, device=device,
                            progress=progress, batch_size=batch_size, rebuild=rebuild,
                            report=report, workers=workers, options=options)
    warm_statistics(index, progress)
    if store is not None:
        register_index(store, index, progress)
    return index


def warm_statistics(index: Index, progress: Progress | None = None) -> None:
    """Measure the gallery statistics every ranking's calibration reads
    (training.calibration.index_gallery_stats: 2000 photos searched against the gallery) and
    cache them in the index folder now, so that the first query after a build does not pay
    for them: ~10 s and, before the probes were batched, 5 GB at a million photos."""
    from geomatch_app.training.calibration import index_gallery_stats

    if progress is not None:
        progress.step(0, 1, "measuring the gallery for the calibration")
    index_gallery_stats(index)
