"""Write the PyTorch fixtures of cltrain's parity tests (Tests/CLTrainNNTests/Fixtures).

For small models built by ../shared/reference/torch_models.py (the same layouts and names as
cltrain's), it saves: the initial state_dict, one batch with its labels and the model's
eval-mode logits, and the state_dict after one SGD step (lr 0.1, Nesterov momentum 0.9,
weight decay 1e-4) on that batch in training mode. The tests load the initial weights into
cltrain, take the same step, and compare.

usage: /opt/torch/bin/python scripts/make_torch_fixtures.py [--reference DIR] [--out DIR]
"""
import argparse, os, sys
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
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.6f}")


torch.manual_seed(0)
fixture("densenet-bc-16-k4", densenet_bc(depth=16, k=4, in_ch=1, classes=10))
torch.manual_seed(0)
fixture("drn-c-tiny", DRN([1, 1, 2, 2, 2, 2, 1, 1], 'C', in_ch=1, classes=10, channels=(4, 8, 8, 8, 8, 8, 8, 8)))
torch.manual_seed(0)
fixture("drn-d-tiny", DRN([1, 1, 2, 2, 2, 2, 1, 1], 'D', in_ch=2, classes=10, channels=(4, 8, 8, 8, 8, 8, 8, 8)), channels=2)
