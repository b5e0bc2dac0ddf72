#!/usr/bin/env python3
"""Write Fashion-MNIST (IDX files) out as an ImageFolder of PNGs, as a user's own images would be:
OUT/train/CLASS/NNNNN.png and OUT/val/CLASS/NNNNN.png, class folders named by the standard
names made file-system-safe ("T-shirt/top" -> "T-shirt_top").

    python scripts/fashion-mnist-to-folders.py --out /tmp/fm-folders --train 2000 --val 500

The first N images of the train and t10k files are taken (Fashion-MNIST's order is already
mixed). Needs numpy and Pillow.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{name}(.gz) not found in {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=500)
    args = parser.parse_args()
    for split, prefix, count in (("train", "train", args.train), ("val", "t10k", args.val)):
        images = read_idx(find(args.data, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find(args.data, f"{prefix}-labels-idx1-ubyte"))
        for name in NAMES:
            os.makedirs(os.path.join(args.out, split, name.replace("/", "_")), exist_ok=True)
        for i in range(min(count, len(images))):
            folder = os.path.join(args.out, split, NAMES[labels[i]].replace("/", "_"))
            Image.fromarray(images[i], mode="L").save(os.path.join(folder, f"{i:05d}.png"))
        print(f"{split}: {min(count, len(images))} images in {os.path.join(args.out, split)}")


if __name__ == "__main__":
    main()
