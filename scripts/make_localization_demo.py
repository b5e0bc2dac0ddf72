#!/usr/bin/env python3
"""Fashion-MNIST items placed at random on a larger dark canvas: a data set where the object's
place is known, for `cltrain localize` (README, "Localize").

Writes OUT/{train,t10k}-{images-idx3,labels-idx1}-ubyte (the Fashion-MNIST layout, so `cltrain
train --data OUT` reads it with its class names), OUT/png/NAME.png for the first test images, and
OUT/boxes.json with the true box (x0, y0, x1, y1, the item's 28x28 square) of each PNG ("png") and
of every test image by index ("test", for `localize --index`).

    python3 scripts/make_localization_demo.py --fashion /usr/share/datasets/fashion-mnist --out demo \
        --size 56 --train 4000 --test 500
"""
import argparse
import gzip
import json
import os
import struct

import numpy as np
from PIL import Image


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_idx(path, array):
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def place(items, labels, count, size, rng):
    canvases = rng.integers(0, 30, size=(count, size, size), dtype=np.uint8)
    boxes = []
    for i in range(count):
        x, y = rng.integers(0, size - 28 + 1, size=2)
        canvases[i, y:y + 28, x:x + 28] = np.maximum(canvases[i, y:y + 28, x:x + 28], items[i])
        boxes.append((int(x), int(y), int(x) + 28, int(y) + 28))
    return canvases, labels[:count], boxes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fashion", required=True, help="folder of Fashion-MNIST's .gz files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--pngs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(os.path.join(args.out, "png"), exist_ok=True)
    names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
    truth = {"png": {}, "test": []}
    for split, prefix, count in [("train", "train", args.train), ("test", "t10k", args.test)]:
        items = read_idx(os.path.join(args.fashion, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(args.fashion, f"{prefix}-labels-idx1-ubyte.gz"))
        canvases, labels, boxes = place(items, labels, count, args.size, rng)
        write_idx(os.path.join(args.out, f"{prefix}-images-idx3-ubyte"), canvases)
        write_idx(os.path.join(args.out, f"{prefix}-labels-idx1-ubyte"), labels)
        if split == "test":
            truth["test"] = boxes
            for i in range(min(args.pngs, count)):
                name = f"{i:02d}-{names[labels[i]]}"
                Image.fromarray(canvases[i], mode="L").save(os.path.join(args.out, "png", name + ".png"))
                truth["png"][name] = {"label": int(labels[i]), "box": boxes[i]}
    with open(os.path.join(args.out, "boxes.json"), "w") as f:
        json.dump(truth, f, indent=1)


if __name__ == "__main__":
    main()
