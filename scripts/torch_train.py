"""Train a reference PyTorch model on Fashion-MNIST with cltrain's default recipe, for comparing
test accuracy (same model, epochs, batch size, augmentation, normalisation and schedule).

usage: /opt/torch/bin/python scripts/torch_train.py [--model densenet-bc-40] [--epochs 2] [--threads 2]
Prints one line per epoch: train loss/accuracy, test loss/accuracy, images per second.
"""
import argparse, gzip, math, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--model", default="densenet-bc-40")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--reference", default=os.path.join(here, "..", "..", "shared", "reference"))
a = p.parse_args()
sys.path.insert(0, a.reference)
from torch_models import MODELS  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


def idx(name):
    with gzip.open(os.path.join(a.data, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


xtr = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
xte = torch.tensor(idx("t10k-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
mean, std = xtr.mean().item(), xtr.std(unbiased=False).item()
print(f"normalisation mean {mean:.6f} std {std:.6f}")

model = MODELS[a.model](in_ch=1, classes=10)
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=1e-4, nesterov=True)
# cltrain's step schedule moves per step: /10 at 50% and 75% of all the run's steps.
total = a.epochs * math.ceil(len(xtr) / a.batch)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[math.ceil(0.5 * total), math.ceil(0.75 * total)], gamma=0.1)


def augment(x):
    # Random crop after 4-pixel zero padding (in pixel space, before normalising), random flip.
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    tops = torch.randint(0, 9, (n,))
    lefts = torch.randint(0, 9, (n,))
    flips = torch.rand(n) < 0.5
    for i in range(n):
        img = padded[i, :, tops[i]:tops[i] + 28, lefts[i]:lefts[i] + 28]
        out[i] = img.flip(-1) if flips[i] else img
    return out


for epoch in range(a.epochs):
    model.train()
    perm = torch.randperm(len(xtr))
    seen, correct, loss_sum, start = 0, 0, 0.0, time.time()
    for b in range(0, len(xtr), a.batch):
        idxs = perm[b:b + a.batch]
        x = (augment(xtr[idxs]) - mean) / std
        y = ytr[idxs]
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        lr = opt.param_groups[0]["lr"]  # the rate of the epoch's last step, as cltrain records it
        sched.step()
        seen += len(idxs)
        loss_sum += loss.item() * len(idxs)
        correct += (logits.argmax(1) == y).sum().item()
    seconds = time.time() - start
    model.eval()
    with torch.no_grad():
        tl, tc = 0.0, 0
        for b in range(0, len(xte), 256):
            logits = model((xte[b:b + 256] - mean) / std)
            tl += F.cross_entropy(logits, yte[b:b + 256], reduction="sum").item()
            tc += (logits.argmax(1) == yte[b:b + 256]).sum().item()
    print(f"epoch {epoch + 1}/{a.epochs} lr {lr:.4g} train loss {loss_sum / seen:.4f} acc {100 * correct / seen:.2f}% "
          f"test loss {tl / len(xte):.4f} acc {100 * tc / len(xte):.2f}% {seen / seconds:.0f} img/s {seconds:.0f}s", flush=True)
