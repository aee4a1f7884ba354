"""Reduced-size JPEG decoding for the model input: EXIF orientation kept, never below the input
size, and bit-identical to a full decode where the photo is small enough."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from geomatch_app.data.images import load_image
from geomatch_app.index.extract import load_tensor
from geomatch_app.models.place import HALF

ORIENTATION = 0x0112


def _pattern(w: int, h: int) -> Image.Image:
    """Left half red, right half blue, a green band along the top: any rotation shows."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (220, 30, 30)
    arr[:, w // 2:] = (30, 30, 220)
    arr[: h // 6] = (30, 200, 30)
    return Image.fromarray(arr)


def _save(img: Image.Image, path, orientation: int | None = None) -> str:
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    img.save(path, quality=92, exif=exif.tobytes())
    return str(path)


def test_draft_keeps_exif_orientation_and_min_side(tmp_path):
    path = _save(_pattern(1600, 1000), tmp_path / "rot6.jpg", orientation=6)
    full = load_image(path)
    small = load_image(path, draft_side=224)
    assert full.size == (1000, 1600)  # rotated upright by EXIF
    assert small.size[0] < full.size[0] and small.size[1] > small.size[0]  # decoded smaller,
    assert min(small.size) >= 224  # ... upright, and never below what the model needs
    a = np.asarray(full.resize((100, 160), Image.Resampling.BILINEAR), np.float32)
    b = np.asarray(small.resize((100, 160), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(a - b).mean() < 4.0  # the same picture (JPEG rounding only)
    # orientation 6 puts the green top band on the right edge
    assert b[:, -5:, 1].mean() > 150 and b[:, :5, 1].mean() < 100


def test_default_input_is_a_full_decode_for_ordinary_photos(tmp_path):
    """At 640 px the draft (>= 2x the 224 input) needs no DCT scaling: identical tensors."""
    path = _save(_pattern(640, 480), tmp_path / "p.jpg")
    assert torch.equal(load_tensor(path, HALF), load_tensor(path, HALF, draft_factor=0))


def test_large_photo_decodes_at_reduced_size_close_to_full(tmp_path):
    path = _save(_pattern(2400, 1800), tmp_path / "big.jpg", orientation=3)
    x = load_tensor(path, HALF)
    ref = load_tensor(path, HALF, draft_factor=0)
    assert x.shape == ref.shape == (3, 224, 224)
    assert (x - ref).abs().mean() < 0.02
    assert load_image(path, draft_side=448).size == (600, 450)  # 1/4 scale, both sides >= 448


def test_png_is_not_drafted(tmp_path):
    path = tmp_path / "p.png"
    _pattern(900, 600).save(path)
    assert load_image(path, draft_side=224).size == (900, 600)


def test_image_to_tensor_is_torchvisions_arithmetic_without_torchvision(tmp_path):
    """The input tensor is bit-identical to torchvision's to_tensor + normalize (indexes built
    before stay valid) — computed without importing torchvision on the query path."""
    import torchvision.transforms.functional as TF

    from geomatch_app.index.extract import image_to_tensor
    from geomatch_app.models.place import IMAGENET

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8))
    for pre in (HALF, IMAGENET):
        ref = TF.normalize(TF.to_tensor(img.resize((pre.size, pre.size), resample=2)),
                           pre.mean, pre.std)
        assert torch.equal(image_to_tensor(img, pre), ref)


def test_preload_imports_and_skips_missing_modules():
    import sys

    from geomatch_app.index.preload import preload, preload_in_background

    assert preload(("json", "geomatch_no_such_module")) >= 0.0
    t = preload_in_background(("geomatch_app.index.extract",))
    t.join(timeout=60)
    assert not t.is_alive() and "geomatch_app.index.extract" in sys.modules


def test_torch_libraries_load_before_torch_is_imported():
    """load_libraries_unlocked dlopens torch's own libraries (global deps, CUDA wheels, the
    torch._C extension) without importing torch; the later import finds and uses them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from geomatch_app.index.preload import load_libraries_unlocked, torch_libraries\n"
        "libs = torch_libraries()\n"
        "assert libs and libs[0][0].endswith('libtorch_global_deps.so') and libs[0][1]\n"
        "assert any('/torch/_C.' in p for p, _ in libs)\n"
        "loaded = load_libraries_unlocked()\n"
        "assert 'torch' not in sys.modules and loaded == [p for p, _ in libs], loaded\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert all(p in maps for p in loaded)\n"
        "import torch\n"
        "assert float(torch.ones(3).sum()) == 3.0\n"
        "assert load_libraries_unlocked() == []  # torch imported: nothing to do\n"
        "print('ok')\n")
    if not sys.platform.startswith("linux"):
        return
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_torch_libraries_without_torch(monkeypatch):
    import importlib.util

    from geomatch_app.index import preload

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert preload.torch_libraries() == []
    assert preload.load_libraries_unlocked([]) == []
