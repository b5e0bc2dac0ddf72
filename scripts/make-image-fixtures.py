#!/usr/bin/env python3
"""Write the image-decoding test fixtures: small JPEG and PNG files in the layouts cltrain reads,
each beside the pixels Pillow decodes from it (`convert("RGB")` or `convert("L")`), which the
decoding tests compare with libjpeg-turbo's and libpng's output (within one level).

Run from the repository root with a Python that has Pillow and numpy:
    python3 scripts/make-image-fixtures.py Tests/CLTrainDataTests/Fixtures/images
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def picture(width, height, seed):
    """A picture with smooth gradients, hard edges and noise: what a JPEG decoder can get wrong."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    r = (255 * x / max(width - 1, 1)).astype(np.float64)
    g = (255 * y / max(height - 1, 1)).astype(np.float64)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    rgb = np.stack([r, g, b], axis=-1)
    rgb[height // 3: 2 * height // 3, width // 4: width // 2] = [250, 20, 30]
    rgb += rng.normal(0, 12, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def main(folder):
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(picture(37, 23, 1), "RGB")
    gray = rgb.convert("L")
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.tile(np.arange(37, dtype=np.uint8) * 6, (23, 1)), "L"))
    files = {
        "rgb.png": lambda p: rgb.save(p),
        "gray.png": lambda p: gray.save(p),
        "rgba.png": lambda p: rgba.save(p),
        "gray-alpha.png": lambda p: rgba.convert("LA").save(p),
        "palette.png": lambda p: rgb.convert("P", palette=Image.ADAPTIVE, colors=32).save(p),
        "interlaced.png": lambda p: rgb.save(p, interlace=1),
        "rgb-420.jpg": lambda p: rgb.save(p, quality=90, subsampling="4:2:0"),
        "rgb-444.jpg": lambda p: rgb.save(p, quality=95, subsampling="4:4:4"),
        "progressive.jpeg": lambda p: rgb.save(p, quality=85, progressive=True),
        "gray.jpg": lambda p: gray.save(p, quality=90),
    }
    manifest = []
    for name, write in files.items():
        path = out / name
        write(path)
        with Image.open(path) as image:
            color = image.mode not in ("L", "LA", "I", "I;16")
            decoded = np.asarray(image.convert("RGB" if color else "L"))
        (out / (name + ".pixels")).write_bytes(decoded.tobytes())
        manifest.append({"file": name, "width": decoded.shape[1], "height": decoded.shape[0],
                         "channels": 3 if color else 1})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/CLTrainDataTests/Fixtures/images")
