"""Write the learning-rate fixture of cltrain's schedule parity test
(Tests/CLTrainTrainingTests/Fixtures/schedules.json).

For each case (schedule, epochs, batches per epoch, base rate, warm-up, floor, milestones) it
steps PyTorch's per-step schedulers through a whole run and records the rate each step uses:
`optimizer.step()` with the rate in the param group, then `scheduler.step()`, as a per-step
PyTorch loop does. cltrain's LearningRateCurve is meant to be:
- warm-up of W steps: LinearLR(start_factor=0.01, end_factor=1, total_iters=W), chained to the
  main schedule by SequentialLR(milestones=[W]);
- step: MultiStepLR(milestones=[ceil(T/2), ceil(3T/4)], gamma=0.1), T = epochs x batches;
- multistep: MultiStepLR(milestones=[ceil(E x batches) for E in --milestones], gamma=0.1);
  both counted from the run's first step, so the chained MultiStepLR gets each milestone - W;
- cosine: CosineAnnealingLR(T_max=T - W, eta_min=min-lr);
- constant: no scheduler (LinearLR alone when warming up).
A position of E epochs is step ceil(E x batches) (cltrain forgives float rounding: 0.3 x 10 is 3).

usage: /work/venv/bin/python scripts/make_schedule_fixtures.py [--out DIR]
"""
import argparse, json, math, os
import warnings
import torch
from torch.optim.lr_scheduler import (CosineAnnealingLR, LinearLR, MultiStepLR, SequentialLR)

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--out", default=os.path.join(here, "..", "Tests", "CLTrainTrainingTests", "Fixtures"))
a = p.parse_args()
warnings.filterwarnings("ignore")  # SequentialLR's deprecated step(0) inside, lr_scheduler order notes

WARMUP_START = 0.01


def step_at(epoch, per_epoch):
    return math.ceil(epoch * per_epoch - 1e-9)


def torch_rates(schedule, epochs, per_epoch, lr, warmup_epochs, min_lr, milestones):
    total = epochs * per_epoch
    w = step_at(warmup_epochs, per_epoch)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    if schedule == "step":
        steps = [math.ceil(total / 2), math.ceil(3 * total / 4)]
    else:
        steps = [step_at(m, per_epoch) for m in milestones]
    main = None
    if schedule in ("step", "multistep"):
        main = MultiStepLR(opt, milestones=[m - w for m in steps], gamma=0.1)
    elif schedule == "cosine":
        main = CosineAnnealingLR(opt, T_max=total - w, eta_min=min_lr)
    if w > 0:
        warm = LinearLR(opt, start_factor=WARMUP_START, end_factor=1.0, total_iters=w)
        scheduler = SequentialLR(opt, [warm, main], milestones=[w]) if main else warm
    else:
        scheduler = main
    rates = []
    for _ in range(total):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if scheduler:
            scheduler.step()
    return rates, w, steps if schedule in ("step", "multistep") else []


# (epochs, batches per epoch, base rate, fractional warm-up, multistep milestones, cosine floor)
runs = [
    (1, 7, 0.1, 0.3, [0.4, 0.8], 0.001),     # a 1-epoch run: every schedule must still move
    (3, 10, 0.1, 0.3, [1, 2], 0.001),        # 0.3 x 10 = 3.0000000000000004 steps of warm-up: 3
    (2, 12, 0.05, 1.0, [1, 1.5], 0.0005),   # warm-up ends on the first milestone (step 12)
    (4, 5, 0.1, 1.5, [1.5, 2.5, 3.5], 0.01),
]
cases = []
for epochs, per_epoch, lr, warmup, milestones, floor in runs:
    for schedule, min_lr in [("step", 0), ("cosine", 0), ("cosine", floor), ("multistep", 0), ("constant", 0)]:
        for warmup_epochs in (0, warmup):
            rates, w, steps = torch_rates(schedule, epochs, per_epoch, lr, warmup_epochs, min_lr, milestones)
            cases.append({
                "schedule": schedule, "epochs": epochs, "stepsPerEpoch": per_epoch, "lr": lr,
                "warmupEpochs": warmup_epochs, "minLR": min_lr,
                "milestones": milestones if schedule == "multistep" else [],
                "warmupSteps": w, "milestoneSteps": steps, "rates": rates,
            })

os.makedirs(a.out, exist_ok=True)
path = os.path.join(a.out, "schedules.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "warmupStartFactor": WARMUP_START, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
