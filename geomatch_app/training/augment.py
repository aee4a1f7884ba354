"""Image → tensor for training: the index's own preprocessing plus the augmentations of papers
A/C and paper A's centre crop for archive scans.

Defaults follow paper C's ablation: colour jitter helped, random resized crops were neutral and
random erasing hurt, so only jitter is on by default; crops (0.3–1.0 of the area), flips and
erasing are options.

Why the crop keeps the image's aspect ratio: the index squashes the whole frame to a square
(``index.extract.image_to_tensor``); cropping with the frame's own aspect and squashing the
same way keeps train and test geometry alike.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass

import torch
from PIL import Image

from geomatch_app.data.images import load_image
from geomatch_app.index.extract import image_to_tensor


@dataclass
class AugmentConfig:
    enabled: bool = True
    crop: bool = False  # random resized crop (paper C: no gain)
    scale: tuple[float, float] = (0.3, 1.0)  # area fraction of the random resized crop
    jitter: float = 0.4  # brightness / contrast / saturation strength (hue = jitter / 4)
    flip: bool = False  # mirrored streets are other streets: off by default
    erase_p: float = 0.0  # random erasing probability (paper C: it hurt)
    center_crop: int | None = None  # paper A: centre-crop archive scans to a square of this side


def center_square(img: Image.Image, side: int) -> Image.Image:
    """Centre square crop resized to ``side`` (paper A: 512×512 for Beeldbank scans)."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.BILINEAR)


def random_resized_crop(img: Image.Image, rng: random.Random,
                        scale: tuple[float, float]) -> Image.Image:
    w, h = img.size
    area = w * h
    for _ in range(10):
        frac = rng.uniform(*scale)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3))) * (w / h)
        cw = int(round(math.sqrt(area * frac * ratio)))
        ch = int(round(math.sqrt(area * frac / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            left = rng.randint(0, w - cw)
            top = rng.randint(0, h - ch)
            return img.crop((left, top, left + cw, top + ch))
    return img


class ImageSource:
    """Decodes each file once (a bounded cache of images shrunk to ~2× the model input) and
    returns augmented or plain tensors. Random choices come from one seeded generator."""

    def __init__(self, preprocess, augment: AugmentConfig | None = None, seed: int = 0,
                 cache_mb: int = 1500):
        self.preprocess = preprocess
        self.augment = augment or AugmentConfig()
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.cache: OrderedDict[str, Image.Image] = OrderedDict()
        # each cached image is at most (2·size)² RGB pixels
        self.cache_size = max(64, int(cache_mb * 1e6 / (3 * (2 * preprocess.size) ** 2)))
        self._jitter = None

    def image(self, path: str, center_crop: int | None = None) -> Image.Image:
        key = f"{path}|{center_crop}"
        img = self.cache.get(key)
        if img is not None:
            self.cache.move_to_end(key)
            return img
        img = load_image(path, max_side=max(1024, 4 * self.preprocess.size))
        if center_crop:
            img = center_square(img, center_crop)
        side = 2 * self.preprocess.size
        if max(img.size) > side:
            img = img.copy()
            img.thumbnail((side, side), Image.Resampling.BILINEAR)
        self.cache[key] = img
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return img

    def plain(self, path: str, center_crop: int | None = None) -> torch.Tensor:
        return image_to_tensor(self.image(path, center_crop), self.preprocess)

    def augmented(self, path: str, center_crop: int | None = None) -> torch.Tensor:
        cfg = self.augment
        if not cfg.enabled:
            return self.plain(path, center_crop)
        img = self.image(path, center_crop)
        if cfg.crop:
            img = random_resized_crop(img, self.rng, cfg.scale)
        if cfg.flip and self.rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if cfg.jitter > 0:
            img = self._color_jitter(img)
        x = image_to_tensor(img, self.preprocess)
        if cfg.erase_p > 0 and self.rng.random() < cfg.erase_p:
            x = self._erase(x)
        return x

    def batch(self, paths: list[str], augment: bool = True,
              center_crop: int | None = None) -> torch.Tensor:
        fn = self.augmented if augment else self.plain
        return torch.stack([fn(p, center_crop) for p in paths])

    def _color_jitter(self, img: Image.Image) -> Image.Image:
        from torchvision.transforms import ColorJitter

        if self._jitter is None:
            j = self.augment.jitter
            self._jitter = ColorJitter(brightness=j, contrast=j, saturation=j, hue=min(0.5, j / 4))
        # torchvision draws from torch's global generator: fork it so runs stay reproducible
        # from our own seed without disturbing anyone else's random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.gen)))
            return self._jitter(img)

    def _erase(self, x: torch.Tensor) -> torch.Tensor:
        """Random erasing (Zhong et al.): a rectangle of 2–33 % of the area set to noise."""
        _, h, w = x.shape
        for _ in range(10):
            frac = self.rng.uniform(0.02, 0.33)
            ratio = math.exp(self.rng.uniform(math.log(0.3), math.log(3.3)))
            eh = int(round(math.sqrt(h * w * frac * ratio)))
            ew = int(round(math.sqrt(h * w * frac / ratio)))
            if 0 < eh < h and 0 < ew < w:
                top = self.rng.randint(0, h - eh)
                left = self.rng.randint(0, w - ew)
                x = x.clone()
                x[:, top:top + eh, left:left + ew] = torch.randn(3, eh, ew, generator=self.gen)
                return x
        return x
