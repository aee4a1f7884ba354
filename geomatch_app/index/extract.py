"""Batched descriptor extraction: DataLoader workers decode images, an engine embeds them.

Unreadable images are reported, not fatal: their rows come back as NaN and the caller decides.
JPEGs are decoded at reduced size in the DCT domain (Pillow ``draft``, see DRAFT_FACTOR); the
engine (index/engines.py: torch or ONNX Runtime) runs the model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from geomatch_app.core.errors import ImageError
from geomatch_app.core.progress import Progress
from geomatch_app.data.images import load_image
from geomatch_app.models.device import resolve_device

log = logging.getLogger(__name__)


def image_to_tensor(image, preprocess) -> torch.Tensor:
    """PIL RGB image → normalised (3, S, S) tensor. The whole frame is kept (resize, no crop):
    street photos are wide and their edges carry place information.

    The arithmetic of torchvision's to_tensor + normalize (bit-identical), without importing
    torchvision: its import holds the GIL ~0.2 s and froze the window on the first query."""
    size = preprocess.size
    img = image.resize((size, size), resample=2)  # bilinear
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
    x = x.to(torch.float32).div(255)
    mean = torch.as_tensor(preprocess.mean, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(preprocess.std, dtype=torch.float32)[:, None, None]
    return x.sub_(mean).div_(std)


# JPEGs are decoded at 1/2–1/8 size while both sides stay >= DRAFT_FACTOR × the input size.
# At 2× the descriptors of ≤ 900 px photos are bit-identical to a full decode and large photos
# decode ~3× faster; at 1× decoding is ~1.4× faster still but descriptors move (cosine down to
# 0.988, 2 of 29 top-1s changed on the shared sets): benchmarks/bench_index.py.
DRAFT_FACTOR = 2


def load_tensor(path: str, preprocess, draft_factor: float = DRAFT_FACTOR) -> torch.Tensor:
    """The model input for one file: decoded at reduced size (see DRAFT_FACTOR), then squashed
    to the input size with the same bilinear resize as from a full decode."""
    side = int(draft_factor * preprocess.size) if draft_factor else None
    image = load_image(path, max_side=max(1024, 4 * preprocess.size), draft_side=side)
    return image_to_tensor(image, preprocess)


class ImageFiles(Dataset):
    def __init__(self, paths: Sequence[str], preprocess):
        self.paths = list(paths)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, load_tensor(self.paths[i], self.preprocess), ""
        except ImageError as exc:
            size = self.preprocess.size
            return i, torch.zeros(3, size, size), str(exc)


def _collate(items):
    idx = torch.tensor([it[0] for it in items])
    x = torch.stack([it[1] for it in items])
    return idx, x, [it[2] for it in items]


def default_workers(dev: torch.device) -> int:
    """Decoding processes. On a small CPU they steal cores from the model: measured on the
    2-core CI machine, one worker made indexing 1.5–2× slower (benchmarks/index_speed.py)."""
    cores = os.cpu_count() or 1
    if dev.type == "cpu" and cores <= 4:
        return 0
    return min(4, cores - 1)


def default_batch_size(dev: torch.device) -> int:
    """Small batches are fastest on a CPU (cache-bound); a GPU wants large ones."""
    return 32 if dev.type == "cuda" else 4


def embed_paths(model, paths: Sequence[str], *, device: str = "auto",
                batch_size: int | None = None,
                workers: int | None = None, progress: Progress | None = None,
                errors: list[tuple[str, str]] | None = None,
                engine: str | None = None) -> np.ndarray:
    """Descriptors (N, D) float32 for ``paths``; rows of unreadable images are NaN and the
    (path, reason) pairs are appended to ``errors``. ``engine``: auto|torch|onnx (None =
    GEOMATCH_ENGINE or auto, see index/engines.py)."""
    from geomatch_app.index.engines import get_engine

    progress = progress or Progress()
    dev = resolve_device(device)
    out = np.full((len(paths), model.dim), np.nan, dtype=np.float32)
    if not paths:
        return out
    run = get_engine(model, engine, dev)
    workers = default_workers(dev) if workers is None else workers
    batch_size = batch_size or default_batch_size(dev)
    files = ImageFiles(paths, model.preprocess)
    if len(paths) <= batch_size and dev.type != "cuda":
        # one batch in this thread (a query): a DataLoader would only add ~1-2 ms of set-up
        loader = [_collate([files[i] for i in range(len(paths))])]
    else:
        loader = DataLoader(files, batch_size=batch_size,
                            num_workers=workers if len(paths) > batch_size else 0,
                            collate_fn=_collate, pin_memory=dev.type == "cuda")
    done = 0
    progress.step(0, len(paths), "embedding")
    for idx, x, errs in loader:
        progress.check()
        ok = [j for j, e in enumerate(errs) if not e]
        for j, e in enumerate(errs):
            if e:
                log.warning("%s", e)
                if errors is not None:
                    errors.append((paths[int(idx[j])], e))
        if ok:
            sel = torch.tensor(ok)
            out[idx[sel].numpy()] = run(x[sel] if len(ok) < len(errs) else x)
        done += len(idx)
        progress.step(done, len(paths), os.path.basename(paths[int(idx[-1])]))
    return out
