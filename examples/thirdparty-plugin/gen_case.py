"""Writes the VICReg conformance case of this example from a PyTorch
transcription of facebookresearch/vicreg main_vicreg.py (VICReg.forward),
evaluated in float64. Run with Debian's python3-torch:

    /usr/bin/python3 examples/thirdparty-plugin/gen_case.py
"""
import json
import os

import torch
import torch.nn.functional as F


def off_diagonal(x):
    n, m = x.shape
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg(x, y, sim_coeff, std_coeff, cov_coeff):
    batch_size, num_features = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = off_diagonal(cov_x).pow(2).sum().div(num_features) + off_diagonal(cov_y).pow(2).sum().div(num_features)
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


def tensor(t):
    return {"shape": list(t.shape), "dtype": "float64", "data": [float(v) for v in t.flatten()]}


def case(n, d, seed, sim=25.0, std=25.0, cov=1.0):
    g = torch.Generator().manual_seed(seed)
    # Per-dimension scales around 1, so the variance hinge is active for some
    # dimensions and not for others.
    scale = torch.linspace(0.3, 1.7, d, dtype=torch.float64)
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * scale).requires_grad_()
    y = (x.detach() + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)).requires_grad_()
    loss = vicreg(x, y, sim, std, cov)
    loss.backward()
    return {
        "method": "vicreg",
        "case": f"vicreg-b{n}-d{d}-s{seed}",
        "reference": "TRANSCRIBED facebookresearch/vicreg main_vicreg.py VICReg.forward, float64 (examples/thirdparty-plugin/gen_case.py)",
        "params": {"sim_coeff": sim, "std_coeff": std, "cov_coeff": cov, "seed": seed, "detached": []},
        "inputs": {"z1": tensor(x.detach()), "z2": tensor(y.detach())},
        "outputs": {"loss": loss.item(), "grads": {"z1": tensor(x.grad), "z2": tensor(y.grad)}},
        "tolerance": {"rtol": 1e-06, "atol": 1e-08},
    }


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
os.makedirs(here, exist_ok=True)
for n, d, seed in [(8, 16, 1), (16, 8, 2)]:
    c = case(n, d, seed)
    with open(os.path.join(here, c["case"] + ".json"), "w") as f:
        json.dump(c, f, indent=1)
    print("wrote", c["case"], "loss", c["outputs"]["loss"])
