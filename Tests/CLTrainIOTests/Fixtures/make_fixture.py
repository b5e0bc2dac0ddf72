#!/usr/bin/env python3
"""Writes python_fixture.safetensors with the `safetensors` package (numpy API).

Run from this folder: pip install safetensors numpy && python3 make_fixture.py
The Swift tests (SafetensorsInteropTests) check the exact values below.
"""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    # A conv weight [out, in, kh, kw] with values 0, 0.5, 1, ...
    "features.conv0.weight": (np.arange(12, dtype=np.float32) * 0.5).reshape(2, 1, 2, 3),
    "features.norm0.bias": np.array([-1.5, 2.25], dtype=np.float32),
    "features.norm0.num_batches_tracked": np.array(7, dtype=np.int64),
    "half.values": np.array([1.0, -2.5, 65504.0, 0.000061035156], dtype=np.float16),
    "scalar": np.array(3.0, dtype=np.float32),
}
save_file(tensors, "python_fixture.safetensors", metadata={"format": "pt", "note": "cltrain fixture"})
