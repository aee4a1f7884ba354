"""Cached-trunk training: compute the frozen lower part of the backbone once per photo, then
train (and evaluate) only the blocks above it on the cached feature maps.

Why: paper A freezes conv1–conv3 anyway, and on a CPU the frozen high-resolution layers are
most of the cost (EfficientNet-Lite2 at 224 px: ~150 of ~165 ms per image run below its last
stage, the last stage plus the 1×1 head ~12 ms; benchmarks/compare_models.py). With the maps
cached, a training step, a hard-negative refresh and a validation or test pass each cost only
the top blocks. What it gives up: augmentation of the cached images (a jittered photo would need
the frozen part again), so the trainer turns augmentation off on this path and the model card
says so.

The cached path is exact: ``suffix(prefix(x)) == model.features(x)`` (same float32
arithmetic, BatchNorm in eval mode as the trainer always runs it); a unit test checks the
descriptors agree with the uncached forward.

- :func:`split_trunk` runs a backbone in two parts at a :func:`~.trainer.backbone_blocks`
  index (EfficientNet-Lite2 and chain-shaped trunks: MobileNetV2, ResNet, AlexNet, VGG without
  taps, plain ``nn.Sequential``).
- :class:`SuffixModel` is the PlaceModel seen from the cut: ``features``/``head``/``forward``
  take cached maps instead of images and share the model's own parameters.
- :class:`TrunkCache` maps a photo path (plus centre crop) to its cached map, in memory and
  optionally in a folder (one ``.npy`` per photo, keyed by the frozen weights' hash, the cut,
  the preprocessing and the file's size and mtime, so a stale entry is never read).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geomatch_app.core import files
from geomatch_app.core.errors import GeomatchError
from geomatch_app.core.progress import Progress

log = logging.getLogger(__name__)

CHAIN_TRUNKS = ("MobileNetV2Trunk", "ResNetTrunk", "AlexNetTrunk")


def _blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from geomatch_app.training.trainer import backbone_blocks

    return backbone_blocks(model)


def split_trunk(model: nn.Module, cut: int) -> tuple[Callable, Callable]:
    """(prefix, suffix) with ``suffix(prefix(x)) == model.features(x)``: the prefix runs the
    backbone blocks with index < ``cut``, the suffix the rest. Raises GeomatchError for a trunk
    whose forward is not a chain of its blocks (e.g. the multi-tap VGG16 / HAF models)."""
    trunk = model.backbone
    name = type(trunk).__name__
    blocks = _blocks(model)
    if not 0 < cut < len(blocks):
        raise GeomatchError(f"cannot cache the trunk below block {cut}: the backbone has "
                            f"{len(blocks)} blocks", hint="pass --freeze-below inside that range")
    if name == "EfficientNetLite2Trunk":
        return _split_effnet(trunk, cut)
    chain = (isinstance(trunk, nn.Sequential) or name in CHAIN_TRUNKS
             or (name == "VGG16Trunk" and not getattr(trunk, "taps", ())))
    if not chain:
        raise GeomatchError(f"--cache-trunk does not support the {name} backbone",
                            hint="train without --cache-trunk")
    mods = [m for _, m in blocks]

    def prefix(x: torch.Tensor) -> torch.Tensor:
        for m in mods[:cut]:
            x = m(x)
        return x

    def suffix(z: torch.Tensor) -> torch.Tensor:
        for m in mods[cut:]:
            z = m(z)
        return z

    return prefix, suffix


def _split_effnet(trunk: nn.Module, cut: int) -> tuple[Callable, Callable]:
    """EfficientNet-Lite2's extract_features split before ``_blocks[cut − 2]`` (block list:
    stem conv, stem BN, the 21 MBConv blocks, head conv, …); cut 23 caches every MBConv block
    and trains only the 1×1 head conv."""
    net = trunk.net
    n_blocks = len(net._blocks)
    k = cut - 2
    if not 0 <= k <= n_blocks:
        raise GeomatchError(f"EfficientNet-Lite2 can be cached below block 2..{n_blocks + 2}, "
                            f"not {cut}", hint="pass --freeze-below in that range")

    def rate(idx: int) -> float | None:
        r = net._global_params.drop_connect_rate
        return r * float(idx) / n_blocks if r else r

    def prefix(x: torch.Tensor) -> torch.Tensor:
        x = net._swish(net._bn0(net._conv_stem(x)))
        for idx in range(k):
            x = net._blocks[idx](x, drop_connect_rate=rate(idx))
        return x

    def suffix(z: torch.Tensor) -> torch.Tensor:
        for idx in range(k, n_blocks):
            z = net._blocks[idx](z, drop_connect_rate=rate(idx))
        return net._swish(net._bn1(net._conv_head(z)))

    return prefix, suffix


def prefix_hash(model: nn.Module, cut: int) -> str:
    """sha256 over the weights of the blocks below ``cut`` (what the cached maps depend on)."""
    h = hashlib.sha256()
    for name, block in _blocks(model)[:cut]:
        for key, t in sorted(block.state_dict().items()):
            h.update(f"{name}.{key}".encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()).reshape(-1).view(np.uint8))
    return h.hexdigest()[:16]


class SuffixModel(nn.Module):
    """A PlaceModel seen from the cut: its input is the cached prefix map, not an image.

    It holds the model itself (so it shares every parameter) and mirrors the PlaceModel API the
    trainer and NetVLAD initialisation use: ``features``, ``head``, ``projection``, ``forward``,
    ``preprocess``, ``dim``."""

    def __init__(self, model: nn.Module, suffix: Callable):
        super().__init__()
        self.model = model
        self._suffix = suffix

    @property
    def head(self) -> nn.Module:
        return self.model.head

    @property
    def projection(self) -> nn.Module | None:
        return getattr(self.model, "projection", None)

    @property
    def preprocess(self):
        return self.model.preprocess

    @property
    def dim(self) -> int:
        return self.model.dim

    def features(self, z: torch.Tensor) -> torch.Tensor:
        return self._suffix(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        d = self.head(self.features(z))
        if self.projection is not None:
            d = self.projection(d)
        return F.normalize(d, p=2.0, dim=1)


class TrunkCache:
    """Cached prefix maps per (photo, centre crop); computed on first use in batches.

    Photos are decoded exactly as the index decodes them (``index.extract.load_tensor``), so
    validation and test recall on the cached path equal ``evaluate_split``'s; centre-cropped
    photos (archive queries, MK-MMD targets) use the trainer's centre square. Maps stay
    float32 in memory, so the cached path equals the uncached one; the folder copy is float16
    only when ``disk_half`` (halves the disk, changes descriptors by ~1e-3)."""

    def __init__(self, model: nn.Module, cut: int, directory: str | Path | None = None,
                 batch_size: int = 32, device: str | torch.device = "cpu",
                 disk_half: bool = False):
        self.model = model
        self.cut = int(cut)
        self.prefix, self.suffix = split_trunk(model, self.cut)
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.directory = Path(directory) if directory else None
        self.disk_half = disk_half
        self.key = json.dumps({"prefix": prefix_hash(model, self.cut), "cut": self.cut,
                               "preprocess": model.preprocess.to_json()}, sort_keys=True)
        self.maps: dict[tuple[str, int | None], torch.Tensor] = {}
        self.computed = 0  # prefix passes run (photos), for logs and tests
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def suffix_model(self) -> SuffixModel:
        return SuffixModel(self.model, self.suffix)

    def _file(self, path: str, crop: int | None) -> Path | None:
        if self.directory is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        ident = f"{self.key}|{os.path.abspath(path)}|{crop}|{st.st_size}|{st.st_mtime_ns}"
        return self.directory / (hashlib.sha1(ident.encode()).hexdigest() + ".npy")

    def _tensor(self, path: str, crop: int | None) -> torch.Tensor:
        from geomatch_app.index.extract import image_to_tensor, load_tensor

        pre = self.model.preprocess
        if not crop:
            return load_tensor(path, pre)
        from geomatch_app.data.images import load_image
        from geomatch_app.training.augment import center_square

        img = load_image(path, max_side=max(1024, 4 * pre.size))
        return image_to_tensor(center_square(img, crop), pre)

    def get(self, paths: list[str], center_crop: int | None = None,
            progress: Progress | None = None) -> torch.Tensor:
        """(B, C, h, w) float32 prefix maps of ``paths``, computing the missing ones."""
        missing = [p for p in dict.fromkeys(paths) if (p, center_crop) not in self.maps]
        todo = []
        for p in missing:
            f = self._file(p, center_crop)
            if f is not None and f.is_file():
                try:
                    self.maps[(p, center_crop)] = torch.from_numpy(
                        np.load(f).astype(np.float32))
                    continue
                except (OSError, ValueError):
                    log.warning("unreadable trunk cache file %s: recomputing it", f)
            todo.append(p)
        for i in range(0, len(todo), self.batch_size):
            if progress is not None:
                progress.step(i, len(todo), "caching the frozen trunk")
            chunk = todo[i:i + self.batch_size]
            x = torch.stack([self._tensor(p, center_crop) for p in chunk])
            with torch.no_grad():
                z = self.prefix(x.to(self.device)).float().cpu()
            self.computed += len(chunk)
            for p, m in zip(chunk, z, strict=True):
                m = m.clone()
                self.maps[(p, center_crop)] = m
                f = self._file(p, center_crop)
                if f is not None:
                    arr = m.numpy().astype(np.float16 if self.disk_half else np.float32)
                    with files.replacing(f, suffix=".npy") as tmp:
                        np.save(tmp, arr)
        return torch.stack([self.maps[(p, center_crop)] for p in paths]).to(self.device)

    def embed(self, paths: list[str], center_crop: int | None = None, batch_size: int = 64,
              progress: Progress | None = None) -> np.ndarray:
        """Descriptors of ``paths`` through the cached prefix and the current suffix + head."""
        net = self.suffix_model()
        out = []
        for i in range(0, len(paths), batch_size):
            if progress is not None:
                progress.check()
            z = self.get(paths[i:i + batch_size], center_crop, progress=progress)
            with torch.no_grad():
                out.append(net(z).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.dim), np.float32)
