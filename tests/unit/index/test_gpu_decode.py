"""The GPU decoding path (index/gpu_decode.py), run on the CPU: which decoder is chosen, and
that decoding through torchvision gives the model the same input as the Pillow path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from geomatch_app.index import extract, gpu_decode
from geomatch_app.index.extract import embed_paths, load_tensor
from geomatch_app.index.gpu_decode import decode_batch, decode_mode, read_bytes
from geomatch_app.models.place import HALF

pytest.importorskip("torchvision")
CPU = torch.device("cpu")
ORIENTATION = 0x0112


def _photo(path, w=300, h=200, orientation=None, seed=0) -> str:
    """Smooth colour ramps plus texture and a green band on top: a rotation or a channel swap
    shows in every pixel statistic."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([255 * xx / w, 255 * yy / h, 128 + 60 * np.sin(xx / 7.0)], -1)
    arr[: h // 6, :, 1] = 230
    arr = np.clip(arr + rng.normal(0, 6, arr.shape), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    Image.fromarray(arr).save(path, quality=90, exif=exif.tobytes())
    return str(path)


def _decode(paths):
    return decode_batch(paths, [read_bytes(p) for p in paths], HALF, CPU)


def test_decoder_choice_follows_device_and_setting(monkeypatch):
    monkeypatch.delenv(gpu_decode.DECODE_ENV, raising=False)
    assert decode_mode(torch.device("cuda")) == "torchvision"
    assert decode_mode(CPU) == "pillow"  # DCT-scaled draft decoding is faster on a CPU
    assert decode_mode(CPU, "torchvision") == "torchvision"
    monkeypatch.setenv(gpu_decode.DECODE_ENV, "pillow")
    assert decode_mode(torch.device("cuda")) == "pillow"
    monkeypatch.setenv(gpu_decode.DECODE_ENV, "nonsense")
    assert decode_mode(torch.device("cuda")) == "torchvision"  # warned, then auto
    monkeypatch.setattr(gpu_decode, "torchvision_available", lambda: False)
    assert decode_mode(torch.device("cuda"), "torchvision") == "pillow"


def test_only_jpegs_go_to_the_device_decoder(tmp_path):
    jpg = _photo(tmp_path / "a.jpg")
    Image.open(jpg).save(tmp_path / "b.png")
    (tmp_path / "c.jpg").write_bytes((tmp_path / "b.png").read_bytes())  # a PNG named .jpg
    data = read_bytes(jpg)
    assert data.dtype == torch.uint8 and data[:3].tolist() == [0xFF, 0xD8, 0xFF]
    assert read_bytes(str(tmp_path / "b.png")) is None
    assert read_bytes(str(tmp_path / "c.jpg")) is None


@pytest.mark.parametrize("orientation", [None, 6, 3])
def test_same_model_input_as_pillow(tmp_path, orientation):
    path = _photo(tmp_path / "p.jpg", orientation=orientation)
    x, errors = _decode([path])
    ref = load_tensor(path, HALF)
    assert errors == [""] and x.shape == (1, 3, 224, 224)
    diff = (x[0] - ref).abs() * 255 * 0.5  # HALF: std 0.5 → back to 0–255 pixel units
    assert float(diff.mean()) < 0.6 and float(diff.max()) <= 12
    # a missed EXIF rotation or swapped channels would move the whole picture
    assert float((x[0] - ref.flip(-2)).abs().mean() * 127.5) > 10 * float(diff.mean()) + 5


def test_shared_photos_decode_alike(shared_data):
    paths = sorted(str(p) for p in (shared_data / "fordham_places").rglob("*.jpg"))[:6]
    assert paths
    x, errors = _decode(paths)
    assert errors == [""] * len(paths)
    ref = torch.stack([load_tensor(p, HALF) for p in paths])
    assert float(((x - ref).abs() * 127.5).mean()) < 0.6


def test_files_torchvision_cannot_read_fall_back_to_pillow(tmp_path):
    good = _photo(tmp_path / "good.jpg")
    png = tmp_path / "pic.png"
    Image.open(good).save(png)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200)  # a JPEG header, nothing after it
    paths = [good, str(png), str(bad)]
    x, errors = _decode(paths)
    assert errors[0] == errors[1] == "" and "bad.jpg" in errors[2]
    assert torch.equal(x[1], load_tensor(str(png), HALF))  # Pillow decoded the PNG
    assert float((x[0] - _decode([good])[0][0]).abs().max()) == 0  # batch = one by one
    assert float(x[2].abs().max()) == 0


def test_embed_paths_uses_the_device_decoder_when_asked(tmp_path, tiny_model_name,
                                                        one_torch_thread, monkeypatch):
    from geomatch_app.models import get_model

    paths = [_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(5)]
    model = get_model(tiny_model_name).eval()
    calls = []
    real = gpu_decode.decode_batch
    monkeypatch.setattr(gpu_decode, "decode_batch", lambda *a: calls.append(1) or real(*a))
    on_device = embed_paths(model, paths, device="cpu", batch_size=2, workers=0,
                            engine="torch", decode="torchvision")
    assert len(calls) == 3  # 5 photos in batches of 2
    calls.clear()
    pillow = embed_paths(model, paths, device="cpu", batch_size=2, workers=0, engine="torch",
                         decode="pillow")
    assert not calls
    cos = np.sum(on_device * pillow, 1) / (np.linalg.norm(on_device, axis=1)
                                           * np.linalg.norm(pillow, axis=1))
    assert cos.min() > 0.999
    assert extract.FileBytes(paths)[0][1] is not None
