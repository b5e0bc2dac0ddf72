#!/usr/bin/env python3
"""Turn a torchvision checkpoint (.pth) into a safetensors file that `cltrain train --init` loads.

    python3 scripts/torchvision-to-safetensors.py densenet121.pth densenet121.safetensors

The input may be a state_dict, a dict holding one under 'state_dict' or 'model' (as training
scripts save them), or a whole pickled model. Names stay torchvision's (cltrain uses the same),
less a `module.` prefix (DataParallel); the model zoo's old DenseNet names
(`denselayer1.norm.1.weight`) become today's (`denselayer1.norm1.weight`), by the rule of
torchvision's own `_load_state_dict`. Floating tensors are written as float32 and
`num_batches_tracked` as int64 scalars, as cltrain writes them.

`--input-channels 1` makes the stem take grayscale images: the first convolution's weights are
summed over its 3 input channels (a gray image x seen as RGB (x, x, x) gives the same response;
timm's `adapt_input_conv` does the same).

Needs torch and safetensors; torchvision only for a pickled model. Errors are one line on stderr.
"""

import argparse
import os
import re
import sys

# torchvision's model zoo DenseNets: `denselayer1.norm.1.weight` -> `denselayer1.norm1.weight`
# (torchvision's rule, which predates num_batches_tracked; that name is renamed the same way).
OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


class ConversionError(Exception):
    pass


def import_torchvision():
    """Import torchvision even where its compiled ops do not match torch (e.g. PyPI's CUDA build of
    torchvision beside a CPU-only torch): its models need none of them, but its import registers
    fake kernels for `torchvision::nms` and `qnms`, which fails unless the ops exist. When its
    extension cannot be loaded, those two schemas are defined first (with no kernel)."""
    import importlib.util
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        raise ConversionError("torchvision is not installed: pip install torchvision")
    extension = os.path.join(os.path.dirname(spec.origin), "_C.so")
    try:
        torch.ops.load_library(extension)
    except (OSError, RuntimeError):
        if not hasattr(import_torchvision, "library"):
            library = torch.library.Library("torchvision", "DEF")
            library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            import_torchvision.library = library  # the definitions live as long as this object
    import torchvision

    return torchvision


def load_checkpoint(path):
    """The file's object: a state_dict, a dict holding one, or a model."""
    import pickle

    import torch

    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # A pickled model: weights_only refuses its classes. Loading it runs the file's pickle,
        # which is only safe for a file you trust (as torch.load(weights_only=False) warns).
        if "Unsupported global" not in str(error):
            # torch's message: a paragraph, then "WeightsUnpickler error:" and the reason lines below.
            detail = str(error).split("WeightsUnpickler error:")[-1].strip().splitlines()
            raise ConversionError(f"{path}: not a PyTorch checkpoint ({detail[0] if detail else 'torch.load cannot read it'})")
    except Exception as error:  # torch raises RuntimeError, EOFError, zipfile errors...
        raise ConversionError(f"{path}: not a PyTorch checkpoint ({first_line(error)})")
    import_torchvision()
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise ConversionError(f"{path}: cannot load the pickled model ({first_line(error)})")


def state_dict_of(obj, path):
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and not isinstance(obj[key], torch.Tensor):
                return state_dict_of(obj[key], path)
        bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise ConversionError(f"{path}: entry '{bad[0]}' is a {type(obj[bad[0]]).__name__}, not a tensor: "
                                  "expected a state_dict, or a dict with 'state_dict' or 'model'")
        if not obj:
            raise ConversionError(f"{path}: holds no tensors")
        return obj
    raise ConversionError(f"{path}: holds a {type(obj).__name__}: expected a state_dict, a dict with "
                          "'state_dict' or 'model', or a model")


def convert(state_dict, input_channels=None):
    """The tensors to write, by cltrain's (torchvision's) names, in the file's order."""
    import torch

    out = {}
    for name, tensor in state_dict.items():
        if name.startswith("module."):
            name = name[len("module."):]
        match = OLD_DENSENET_KEY.match(name)
        if match:
            name = match.group(1) + match.group(2)
        if name in out:
            raise ConversionError(f"tensor '{name}' appears twice after renaming")
        if name.endswith("num_batches_tracked"):
            tensor = tensor.to(torch.int64).reshape(())
        elif tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        out[name] = tensor.detach().contiguous().clone()
    if input_channels is not None:
        stem = next((n for n, t in out.items() if t.dim() == 4), None)
        if stem is None:
            raise ConversionError("no convolution to adapt to --input-channels")
        have = out[stem].shape[1]
        if input_channels != 1 or have != 3:
            raise ConversionError(f"--input-channels {input_channels}: only a 3-channel stem can be made 1-channel "
                                  f"('{stem}' takes {have})")
        out[stem] = out[stem].sum(dim=1, keepdim=True).contiguous()
    return out


def first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", help="torchvision .pth file")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--input-channels", type=int, choices=[1],
                        help="1: sum the stem's weights over RGB, for grayscale images")
    args = parser.parse_args(argv)
    try:
        try:
            import torch  # noqa: F401
            from safetensors.torch import save_file
        except ImportError as error:
            raise ConversionError(f"{error.name} is not installed: pip install torch safetensors")
        tensors = convert(state_dict_of(load_checkpoint(args.input), args.input), args.input_channels)
        try:
            save_file(tensors, args.output, metadata={"format": "pt", "source": os.path.basename(args.input)})
        except Exception as error:  # safetensors raises its own SafetensorError for I/O
            raise ConversionError(f"{args.output}: cannot write ({first_line(error)}); check the folder exists and is writable")
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
