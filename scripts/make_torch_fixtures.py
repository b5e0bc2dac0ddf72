"""Write the PyTorch fixtures of cltrain's parity tests (Tests/CLTrainNNTests/Fixtures).

For small models built by ../shared/reference/torch_models.py (the same layouts and names as
cltrain's), it saves: the initial state_dict, one batch with its labels and the model's
eval-mode logits, and the state_dict after one SGD step (lr 0.1, Nesterov momentum 0.9,
weight decay 1e-4) on that batch in training mode. The tests load the initial weights into
cltrain, take the same step, and compare.

usage: /opt/torch/bin/python scripts/make_torch_fixtures.py [--reference DIR] [--out DIR]
"""
import argparse, copy, os, sys
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
p.add_argument("--out", default=os.path.join(here, "..", "Tests", "CLTrainNNTests", "Fixtures"))
a = p.parse_args()
sys.path.insert(0, a.reference)
from torch_models import densenet_bc, DRN  # noqa: E402

torch.set_num_threads(2)
os.makedirs(a.out, exist_ok=True)


def state(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def fixture(name, model, channels=1, size=16, batch=4, classes=10):
    torch.manual_seed(1234)
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, classes, (batch,))
    save_file(state(model), os.path.join(a.out, f"{name}-initial.safetensors"))
    # The same step in float64: how far PyTorch's own float32 result is from exact, so that a
    # fixture too ill-conditioned to check 1e-4 parity shows itself (keep this well below 1e-4).
    exact = copy.deepcopy(model).double().train()
    opt64 = torch.optim.SGD(exact.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    F.cross_entropy(exact(x.double()), y).backward()
    opt64.step()
    model.eval()
    with torch.no_grad():
        logits = model(x)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    save_file(state(model), os.path.join(a.out, f"{name}-step1.safetensors"))
    save_file({"input": x.contiguous(), "labels": y.float(), "eval_logits": logits.contiguous(), "loss": loss.detach().reshape(1)},
              os.path.join(a.out, f"{name}-batch.safetensors"))
    own = max((v.double() - exact.state_dict()[k]).abs().max().item() / max(exact.state_dict()[k].abs().max().item(), 1e-30)
              for k, v in state(model).items() if v.is_floating_point())
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.6f}, "
          f"PyTorch float32 vs float64 after the step: {own:.2e} (largest per-tensor relative error)")


torch.manual_seed(0)
fixture("densenet-bc-16-k4", densenet_bc(depth=16, k=4, in_ch=1, classes=10))
torch.manual_seed(0)
# DRNs at 28x28 and 8 images (like the real data): at 16x16 and 4 images their deepest batch
# norms see 16 values each and PyTorch's own float32 step is 8e-5 off the float64 one.
fixture("drn-c-tiny", DRN([1, 1, 2, 2, 2, 2, 1, 1], 'C', in_ch=1, classes=10, channels=(4, 8, 8, 8, 8, 8, 8, 8)), size=28, batch=8)
torch.manual_seed(0)
fixture("drn-d-tiny", DRN([1, 1, 2, 2, 2, 2, 1, 1], 'D', in_ch=2, classes=10, channels=(4, 8, 8, 8, 8, 8, 8, 8)), channels=2, size=28, batch=8)
