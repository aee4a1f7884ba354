"""NetVLAD initialisation: k-means on local descriptors sampled from a set of images.

NetVLAD (and its attention/CRN variants) only works once its centroids sit where real local
descriptors are; random centroids give near-uniform soft-assignments. As in NetVLAD and paper C,
we sample descriptors from the backbone's feature maps, run k-means (faiss), and set α so that
the soft-assignment is sharp: α = −log(0.01) / mean(d₂² − d₁²) over the sampled descriptors
(d₁, d₂: distances to the nearest and second-nearest centroid).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress

log = logging.getLogger(__name__)


def netvlad_head(model: torch.nn.Module):
    """The NetVLAD layer of a PlaceModel, or a GeomatchError naming the model."""
    from geomatch_app.models.layers import NetVLAD

    head = getattr(model, "head", None)
    if not isinstance(head, NetVLAD):
        raise GeomatchError(f"model {getattr(model, 'name', '') or type(model).__name__!r} has "
                            "no NetVLAD head", hint="pick a *-netvlad, -a1/-a2, -crn model")
    return head


def _path_batches(paths: list, preprocess, batch_size: int) -> Iterable[torch.Tensor]:
    import torchvision.transforms.functional as TF

    from geomatch_app.data.images import load_image

    for i in range(0, len(paths), batch_size):
        xs = []
        for p in paths[i:i + batch_size]:
            img = load_image(p, max_side=4 * preprocess.size)
            img = img.resize((preprocess.size, preprocess.size), resample=2)
            xs.append(TF.normalize(TF.to_tensor(img), preprocess.mean, preprocess.std))
        yield torch.stack(xs)


def _as_batches(images, preprocess, batch_size: int) -> tuple[Iterable[torch.Tensor], int | None]:
    """Accept a list of paths, a list/tensor of images, or any iterable of batches."""
    if isinstance(images, torch.Tensor):
        images = images[None] if images.dim() == 3 else images
        return [images[i:i + batch_size] for i in range(0, len(images), batch_size)], len(images)
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, Path)):
        return _path_batches(list(images), preprocess, batch_size), len(images)
    if isinstance(images, (list, tuple)):
        batches = [b[None] if b.dim() == 3 else b for b in images]
        return batches, sum(len(b) for b in batches)
    return images, None  # e.g. a DataLoader yielding tensors or (tensor, ...) tuples


def sample_descriptors(model: torch.nn.Module, images, n_descriptors: int = 50_000,
                       per_image: int | None = None, batch_size: int = 8, seed: int = 0,
                       progress: Progress | None = None) -> np.ndarray:
    """Local descriptors (N, C) float32 as the NetVLAD head sees them (L2-normalised)."""
    head = netvlad_head(model)
    batches, n_images = _as_batches(images, model.preprocess, batch_size)
    if per_image is None:
        per_image = max(1, math.ceil(n_descriptors / n_images)) if n_images else 64
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    total, seen = 0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                feats = head.prepare(model.features(batch.to(device)))  # (B,C,h,w)
                for f in feats.flatten(2).transpose(1, 2):  # (h*w, C) per image
                    take = min(per_image, len(f), n_descriptors - total)
                    idx = torch.randperm(len(f), generator=gen)[:take]
                    out.append(f[idx.to(f.device)].float().cpu().numpy())
                    total += take
                seen += len(batch)
                if progress is not None:
                    progress.step(seen, n_images or seen, "sampling local descriptors")
                if total >= n_descriptors:
                    break
    finally:
        model.train(was_training)
    if not out:
        raise GeomatchError("no images to initialise NetVLAD from",
                            hint="give a folder or manifest with readable photos")
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def kmeans_centroids(descriptors: np.ndarray, clusters: int, niter: int = 25,
                     seed: int = 0) -> tuple[np.ndarray, float]:
    """(centroids (K,C), α) from k-means on the descriptors."""
    import faiss

    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    if len(x) < clusters:
        raise GeomatchError(f"only {len(x)} local descriptors for {clusters} clusters",
                            hint="use more images or fewer clusters")
    km = faiss.Kmeans(x.shape[1], clusters, niter=niter, seed=seed, verbose=False,
                      min_points_per_centroid=1)
    km.train(x)
    centroids = km.centroids.copy()
    return centroids, alpha_for(centroids, x)


def alpha_for(centroids: np.ndarray, descriptors: np.ndarray) -> float:
    """NetVLAD's α: the nearest centroid gets ~100× the weight of the second nearest on average."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    d, _ = index.search(np.ascontiguousarray(descriptors, dtype=np.float32), 2)
    gap = float(np.mean(d[:, 1] - d[:, 0]))
    return float(-math.log(0.01) / max(gap, 1e-12))


def init_netvlad(model: torch.nn.Module, images_or_loader, n_descriptors: int = 50_000,
                 per_image: int | None = None, niter: int = 25, seed: int = 0,
                 batch_size: int = 8, progress: Progress | None = None) -> dict:
    """Initialise the NetVLAD head of ``model`` in place from k-means on sampled descriptors.

    ``images_or_loader``: image paths, a (B,3,H,W) tensor, a list of image tensors, or an
    iterable of batches (e.g. a DataLoader). Returns a summary {"descriptors", "clusters",
    "alpha"}.
    """
    head = netvlad_head(model)
    desc = sample_descriptors(model, images_or_loader, n_descriptors, per_image, batch_size,
                              seed, progress)
    centroids, alpha = kmeans_centroids(desc, head.clusters, niter=niter, seed=seed)
    head.init_from_centroids(torch.from_numpy(centroids), alpha)
    log.info("NetVLAD initialised from %d descriptors: %d clusters, alpha=%.1f",
             len(desc), head.clusters, alpha)
    return {"descriptors": int(len(desc)), "clusters": int(head.clusters), "alpha": alpha}
