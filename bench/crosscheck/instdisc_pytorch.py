"""InstDisc cross-check: lemniscate.pytorch's training step, transcribed in
PyTorch, on the PyTorch reference's convnet-s, augmentation and evaluation.

It backs the instdisc note in docs/benchmarks.md. Run it beside the reference's
common.py (it imports it), with Debian's python3-torch:

    d=$(mktemp -d) && cp -r ../shared/reference/pytorch-fmnist/. "$d" && cp bench/crosscheck/instdisc_pytorch.py "$d" && cd "$d"
    /usr/bin/python3 instdisc_pytorch.py --epochs 1                      # NCE: kNN 53.4, linear 53.2
    /usr/bin/python3 instdisc_pytorch.py --epochs 1 --bank-init features  # kNN 61.1, linear 63.4
    /usr/bin/python3 instdisc_pytorch.py --epochs 3 --K 0                # softmax: kNN 69.0, linear 70.7

NCE mode follows NCEAverage + NCECriterion (Z fixed from the first batch);
K 0 follows LinearAverage + CrossEntropyLoss. Both move the bank rows of the
batch to normalize(m * row + (1 - m) * feature) after the step.
"""
import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import argparse
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import BatchAug, convnet_s, evaluate_trunk, load_fmnist, normalize, setup, to_unit

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--K", type=int, default=4096, help="noise rows per image; 0: softmax over the whole bank")
p.add_argument("--T", type=float, default=0.07)
p.add_argument("--m", type=float, default=0.5, help="bank momentum")
p.add_argument("--bank-init", choices=["random", "features"], default="random")
p.add_argument("--max-steps", type=int, default=0, help="debug: steps per epoch")
p.add_argument("--no-eval", action="store_true")
a = p.parse_args()

setup(2)
data = load_fmnist()
xtr = data[0]
N, B, D = xtr.shape[0], 256, 128
torch.manual_seed(0)
trunk, head = convnet_s(), nn.Linear(128, D)
opt = torch.optim.Adam(list(trunk.parameters()) + list(head.parameters()), lr=a.lr, weight_decay=1e-6)
aug = BatchAug()

stdv = 1.0 / math.sqrt(D / 3)  # lemniscate's bank initialisation
memory = torch.rand(N, D).mul_(2 * stdv).add_(-stdv)
if a.bank_init == "features":
    trunk.eval(); head.eval()
    with torch.no_grad():
        memory = torch.cat([F.normalize(head(trunk(normalize(to_unit(xtr[s:s + 1000])))), dim=1)
                            for s in range(0, N, 1000)])
Z = None
for ep in range(a.epochs):
    trunk.train(); head.train()
    perm = torch.randperm(N)
    steps = a.max_steps or N // B
    for it in range(steps):
        idx = perm[it * B:(it + 1) * B]
        x = F.normalize(head(trunk(aug(to_unit(xtr[idx])))), dim=1)
        if a.K == 0:
            loss = F.cross_entropy(x @ memory.t() / a.T, idx)
            info = ""
        else:
            sidx = torch.randint(0, N, (B, a.K + 1))
            sidx[:, 0] = idx
            w = memory[sidx.view(-1)].view(B, a.K + 1, D)
            out = torch.bmm(w, x.unsqueeze(2)).squeeze(2).div(a.T).exp()
            if Z is None:
                Z = (out.mean() * N).item()
            P, c = out / Z, a.K / N
            loss = -((P[:, :1] / (P[:, :1] + c + 1e-7)).log().sum()
                     + (c / (P[:, 1:] + c + 1e-7)).log().sum()) / B
            info = f" Z_ratio {out.mean().item() * N / Z:.2f}"
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            memory[idx] = F.normalize(memory[idx] * a.m + x.detach() * (1 - a.m), dim=1)
        if it % 20 == 0:
            print(f"ep {ep + 1} it {it} loss {loss.item():.3f}{info}", flush=True)
if not a.no_eval:
    print("EVAL", json.dumps(evaluate_trunk(trunk, data)))
