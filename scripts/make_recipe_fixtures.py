"""Write the PyTorch fixtures of cltrain's recipe-option parity tests (Tests/CLTrainNNTests/Fixtures).

From the drn-c-tiny fixture's initial weights and batch (scripts/make_torch_fixtures.py),
one training step each of:
  adamw   torch.optim.AdamW(lr=0.01, weight_decay=1.0) (a large decay, so that it shows at 1e-4)
  clip    clip_grad_norm_(max_norm=0.5), then the fixtures' SGD step (lr 0.1, Nesterov 0.9, wd 1e-4)
  smooth  F.cross_entropy(label_smoothing=0.1), then the same SGD step
Each writes drn-c-tiny-<variant>.safetensors: the state_dict after the step, with the loss
and the gradients' global norm before clipping under "recipe.loss" and "recipe.grad_norm". Each
step is also taken in float64 and the largest per-tensor relative gap printed: it must stay well
below the tests' 1e-4.

usage: /work/venv/bin/python scripts/make_recipe_fixtures.py [--reference DIR] [--out DIR]
"""
import argparse, copy, os, sys
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
p.add_argument("--out", default=os.path.join(here, "..", "Tests", "CLTrainNNTests", "Fixtures"))
a = p.parse_args()
sys.path.insert(0, a.reference)
try:
    import torchvision  # noqa: F401
except ImportError:  # the DRN needs none of it; the reference module imports its DenseNet at the top
    import types
    for module in ["torchvision", "torchvision.models", "torchvision.models.densenet"]:
        sys.modules[module] = types.ModuleType(module)
    sys.modules["torchvision.models.densenet"].DenseNet = None
from torch_models import DRN  # noqa: E402

torch.set_num_threads(2)
name = "drn-c-tiny"
initial = load_file(os.path.join(a.out, f"{name}-initial.safetensors"))
batch = load_file(os.path.join(a.out, f"{name}-batch.safetensors"))
x, y = batch["input"], batch["labels"].long()


def step(variant, dtype):
    model = DRN([1, 1, 2, 2, 2, 2, 1, 1], 'C', in_ch=1, classes=10, channels=(4, 8, 8, 8, 8, 8, 8, 8))
    model.load_state_dict(initial)
    model = model.to(dtype).train()
    if variant == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=1.0)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    loss = F.cross_entropy(model(x.to(dtype)), y, label_smoothing=0.1 if variant == "smooth" else 0.0)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5 if variant == "clip" else float("inf"))
    opt.step()
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    return state, loss.detach(), norm.detach()


for variant in ["adamw", "clip", "smooth"]:
    state, loss, norm = step(variant, torch.float32)
    exact, _, _ = step(variant, torch.float64)
    own = max((v.double() - exact[k]).abs().max().item() / max(exact[k].abs().max().item(), 1e-30)
              for k, v in state.items() if v.is_floating_point())
    state["recipe.loss"] = loss.reshape(1).float()
    state["recipe.grad_norm"] = norm.reshape(1).float()
    save_file(state, os.path.join(a.out, f"{name}-{variant}.safetensors"))
    print(f"{variant}: loss {loss.item():.6f}, gradient norm {norm.item():.6f}, "
          f"PyTorch float32 vs float64 after the step: {own:.2e} (largest per-tensor relative error)")
