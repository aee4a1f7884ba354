"""Draw the app icon (a map pin over a photo frame) as PNGs, .ico and .icns in packaging/icons.

Run once by maintainers; the results are committed. Pillow only, no design tools:
    python packaging/make_icon.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def draw(size: int = 1024) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size / 64
    # a photo: rounded frame, sky and two hills
    d.rounded_rectangle([4 * s, 10 * s, 60 * s, 54 * s], radius=6 * s, fill="#f4f1ea",
                        outline="#3b4a5a", width=max(1, round(2.5 * s)))
    d.rectangle([8 * s, 14 * s, 56 * s, 50 * s], fill="#9fd0f0")
    d.polygon([(8 * s, 50 * s), (24 * s, 30 * s), (36 * s, 42 * s), (44 * s, 34 * s),
               (56 * s, 46 * s), (56 * s, 50 * s)], fill="#5f9e5a")
    # a map pin
    cx, cy, r = 40 * s, 24 * s, 11 * s
    d.polygon([(cx - r * 0.82, cy + r * 0.55), (cx + r * 0.82, cy + r * 0.55), (cx, cy + 2.3 * r)],
              fill="#d7191c")
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill="#d7191c", outline="#8c0f12",
              width=max(1, round(1.2 * s)))
    d.ellipse([cx - r * 0.42, cy - r * 0.42, cx + r * 0.42, cy + r * 0.42], fill="#ffffff")
    return img


def main() -> None:
    OUT.mkdir(exist_ok=True)
    big = draw()
    for n in SIZES:
        big.resize((n, n), Image.LANCZOS).save(OUT / f"geomatch-{n}.png")
    big.resize((256, 256), Image.LANCZOS).save(OUT / "geomatch.ico",
                                               sizes=[(n, n) for n in SIZES if n <= 256])
    big.resize((512, 512), Image.LANCZOS).save(OUT / "geomatch.icns")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
