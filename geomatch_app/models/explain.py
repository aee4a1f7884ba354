"""Per-image heatmaps that show the curator *why* a model matched: H×W float arrays aligned to the
input image tensor, for the GUI to overlay.

- "magnitude": L2 norm of the local features (paper D's spatial attention: where activations
  are strong).
- "attention": paper A's A1/A2 attention weights (attention NetVLAD heads).
- "crn-mask": the CRN/CRN2 context re-weighting mask (paper C).
- "netvlad-cluster" / "netvlad-entropy": index of the argmax cluster / entropy of the
  soft-assignment (low = confidently assigned) for NetVLAD-family heads.
- "haf-scores": paper B's fused detection scores (0.1/0.4/0.5 over the three levels).
- "occlusion": paper D's occlusion sensitivity: drop in similarity to a gallery descriptor when
  a grey patch hides each part of the query (needs ``gallery_desc``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from geomatch_app.core.progress import Progress


def available_heatmaps(model: torch.nn.Module) -> list[str]:
    """Methods :func:`heatmap` supports for this model, in the order a menu should show them."""
    from geomatch_app.models.haf import HAFHead
    from geomatch_app.models.layers import AttentionNetVLAD, CRNNetVLAD, NetVLAD

    head = getattr(model, "head", None)
    out = []
    if isinstance(head, AttentionNetVLAD):
        out.append("attention")
    if isinstance(head, CRNNetVLAD):
        out.append("crn-mask")
    if isinstance(head, HAFHead):
        out.append("haf-scores")
    out.append("magnitude")
    if isinstance(head, NetVLAD):
        out += ["netvlad-cluster", "netvlad-entropy"]
    out.append("occlusion")
    return out


def _batch1(image: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    x = image[None] if image.dim() == 3 else image
    if x.dim() != 4 or len(x) != 1:
        raise ValueError("heatmaps take one image tensor (3,H,W) or (1,3,H,W)")
    dev = next(model.parameters()).device
    return x.to(dev, torch.float32)


def _upsample(m: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """(h,w) or (1,1,h,w) map → (H,W) float32 numpy aligned to the image."""
    m = m.reshape(1, 1, *m.shape[-2:]).float()
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(m, size=size, mode=mode, **kw)[0, 0].cpu().numpy().astype(np.float32)


def _last_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    f = model.features(x)
    return f[-1] if isinstance(f, (list, tuple)) else f


def heatmap(model: torch.nn.Module, method: str, image_tensor: torch.Tensor,
            **kw) -> np.ndarray:
    """Dispatch to one method of :func:`available_heatmaps`; returns an (H,W) float32 array."""
    if method == "occlusion":
        if "gallery_desc" not in kw:
            raise ValueError("occlusion needs gallery_desc (the descriptor to compare with)")
        return occlusion_map(model, image_tensor, **kw)
    fns = {
        "magnitude": feature_magnitude,
        "attention": attention_map,
        "crn-mask": crn_mask,
        "netvlad-cluster": netvlad_cluster_map,
        "netvlad-entropy": netvlad_entropy_map,
        "haf-scores": haf_score_map,
    }
    if method not in fns:
        raise ValueError(f"unknown heatmap {method!r}; available: {available_heatmaps(model)}")
    if method not in available_heatmaps(model):
        raise ValueError(f"heatmap {method!r} does not apply to this model")
    return fns[method](model, image_tensor)


@torch.no_grad()
def feature_magnitude(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    x = _batch1(image_tensor, model)
    f = _last_features(model.eval(), x)
    return _upsample(f.norm(dim=1), tuple(x.shape[-2:]))


@torch.no_grad()
def attention_map(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    x = _batch1(image_tensor, model)
    w = model.eval().head.attention(model.features(x))
    return _upsample(w, tuple(x.shape[-2:]))


@torch.no_grad()
def crn_mask(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    x = _batch1(image_tensor, model)
    m = model.eval().head.context(model.features(x))
    return _upsample(m, tuple(x.shape[-2:]))


def _soft_assign(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    head = model.eval().head
    return head.soft_assign(head.prepare(model.features(x)))[0]  # (K,h,w)


@torch.no_grad()
def netvlad_cluster_map(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    """Index of the most likely cluster per location (nearest upsampling: it is a label)."""
    x = _batch1(image_tensor, model)
    a = _soft_assign(model, x)
    return _upsample(a.argmax(0).float(), tuple(x.shape[-2:]), mode="nearest")


@torch.no_grad()
def netvlad_entropy_map(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    x = _batch1(image_tensor, model)
    a = _soft_assign(model, x)
    ent = -(a * a.clamp_min(1e-12).log()).sum(0)
    return _upsample(ent, tuple(x.shape[-2:]))


@torch.no_grad()
def haf_score_map(model: torch.nn.Module, image_tensor: torch.Tensor) -> np.ndarray:
    """Fused HAF detection scores: Σ_l w_l · s_l, each level upsampled to the image."""
    x = _batch1(image_tensor, model)
    head = model.eval().head
    size = tuple(x.shape[-2:])
    out = np.zeros(size, np.float32)
    for (scores, _, _), w in zip(head.level_outputs(model.features(x)), head.weights,
                                 strict=True):
        s = scores[0] / scores[0].max().clamp_min(1e-12)
        out += w * _upsample(s, size)
    return out


def _occlude(model: torch.nn.Module, x: torch.Tensor, g: torch.Tensor,
             boxes: list[tuple[int, int, int, int]], batch: int, fill: float,
             progress: Progress | None, done: int, total: int) -> tuple[list[float], int]:
    """Cosine to ``g`` of copies of ``x`` with each (y0, y1, x0, x1) box filled, ``batch``
    copies per forward pass; one progress step (and cancel check) per batch."""
    sims: list[float] = []
    for b in range(0, len(boxes), batch):
        chunk = boxes[b:b + batch]
        xb = x.repeat(len(chunk), 1, 1, 1)
        for i, (y0, y1, x0, x1) in enumerate(chunk):
            xb[i, :, y0:y1, x0:x1] = fill
        sims += (model(xb) @ g).double().cpu().tolist()
        done += 1
        if progress is not None:
            progress.step(done, total, "occlusion sensitivity")
    return sims, done


def _edges(n: int, parts: int) -> list[int]:
    return [round(v) for v in np.linspace(0, n, parts + 1)]


@torch.no_grad()
def occlusion_map(model: torch.nn.Module, query_tensor: torch.Tensor,
                  gallery_desc: np.ndarray | torch.Tensor, patch: int | None = None,
                  stride: int | None = None, batch: int = 16, fill: float = 0.0,
                  progress: Progress | None = None, grid: int = 4,
                  refine: int = 4) -> np.ndarray:
    """Occlusion sensitivity (paper D): similarity drop when a patch hides each image region.

    ``gallery_desc`` is the candidate's descriptor — pass the one stored in the index
    (``index.descriptors([i])[0]``) rather than embedding the candidate again. ``fill`` 0 is
    the dataset mean after normalisation, i.e. grey. High values = this region made the match.

    Default, coarse to fine (~2 s for a 224-px model on one CPU core, benchmarks/
    bench_heatmap.py): hide each cell of a ``grid``-row grid (columns follow the aspect ratio),
    then split the ``refine`` cells whose hiding cost most into 2×2 and hide those quarters;
    a refined cell keeps its coarse drop plus the quarters' deviation from their mean, and the
    cell map is bilinearly upsampled, so the map is smooth and its mass stays where the coarse
    pass put it. With ``patch`` (and ``stride``, default patch/2) given, the exhaustive sliding
    window of the paper instead: each pixel gets the mean drop over the patches covering it.
    """
    x = _batch1(query_tensor, model)
    model = model.eval()
    g = torch.as_tensor(np.asarray(gallery_desc, dtype=np.float32)).reshape(-1).to(x.device)
    g = F.normalize(g, dim=0)
    if patch is not None or stride is not None:
        return _sliding_occlusion(model, x, g, patch, stride, batch, fill, progress)
    _, _, h, w = x.shape
    rows = max(1, min(grid, h))
    cols = max(1, min(w, round(grid * w / h)))
    ye, xe = _edges(h, rows), _edges(w, cols)
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    boxes = [(ye[r], ye[r + 1], xe[c], xe[c + 1]) for r, c in cells]
    n_refine = min(refine, len(cells))
    total = math.ceil(len(boxes) / batch) + math.ceil(4 * n_refine / batch) + 1
    base = float(model(x)[0] @ g)
    if progress is not None:
        progress.step(1, total, "occlusion sensitivity")
    sims, done = _occlude(model, x, g, boxes, batch, fill, progress, 1, total)
    coarse = np.array([base - s for s in sims]).reshape(rows, cols)
    fine = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)
    top = np.argsort(-coarse.ravel(), kind="stable")[:n_refine]
    sub_boxes = []
    for t in top:
        r, c = divmod(int(t), cols)
        ym = (ye[r] + ye[r + 1]) // 2
        xm = (xe[c] + xe[c + 1]) // 2
        for y0, y1 in ((ye[r], ym), (ym, ye[r + 1])):
            for x0, x1 in ((xe[c], xm), (xm, xe[c + 1])):
                sub_boxes.append((y0, y1, x0, x1))
    sub, _ = _occlude(model, x, g, sub_boxes, batch, fill, progress, done, total)
    for j, t in enumerate(top):
        r, c = divmod(int(t), cols)
        q = np.array([base - s for s in sub[4 * j:4 * j + 4]]).reshape(2, 2)
        fine[2 * r:2 * r + 2, 2 * c:2 * c + 2] = coarse[r, c] + (q - q.mean())
    return _upsample(torch.as_tensor(fine), (h, w))


def _sliding_occlusion(model: torch.nn.Module, x: torch.Tensor, g: torch.Tensor,
                       patch: int | None, stride: int | None, batch: int, fill: float,
                       progress: Progress | None) -> np.ndarray:
    _, _, h, w = x.shape
    patch = patch or max(1, min(h, w) // 6)
    stride = stride or max(1, patch // 2)
    base = float(model(x)[0] @ g)
    ys = list(range(0, max(h - patch, 0) + 1, stride))
    xs = list(range(0, max(w - patch, 0) + 1, stride))
    if ys[-1] + patch < h:
        ys.append(h - patch)
    if xs[-1] + patch < w:
        xs.append(w - patch)
    boxes = [(y, y + patch, xx, xx + patch) for y in ys for xx in xs]
    sims, _ = _occlude(model, x, g, boxes, batch, fill, progress, 0,
                       math.ceil(len(boxes) / batch))
    drop = torch.zeros(h, w, dtype=torch.float64)
    count = torch.zeros(h, w, dtype=torch.float64)
    for (y0, y1, x0, x1), s in zip(boxes, sims, strict=True):
        drop[y0:y1, x0:x1] += base - s
        count[y0:y1, x0:x1] += 1
    return (drop / count.clamp_min(1)).numpy().astype(np.float32)
