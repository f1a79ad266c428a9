"""Writes the SimMoCo conformance cases of this example from a PyTorch
transcription of ChaoningZhang/Dual-temperature (CVPR 2022):
solo/losses/dual_temperature_loss.py (dual_temperature_loss_func) and the
symmetric ("plus_version") branch of SimMoCo_DualTemperature.training_step
in solo/methods/simmoco_dual_temperature.py, evaluated in float64. The roles
are the raw head outputs: queries q1, q2 (projector on the online trunk) and
keys k1, k2 (EMA projector on the EMA trunk, detached); the normalisation
of training_step is part of the loss. Run with Debian's python3-torch:

    /usr/bin/python3 examples/plugin-with-head/gen_case.py
"""
import json
import os

import torch
import torch.nn.functional as F


def dual_temperature_loss_func(query, key, temperature=0.1, dt_m=10):
    # intra-anchor hardness-awareness
    pos = torch.einsum("nc,nc->n", [query, key]).unsqueeze(-1)
    neg = torch.einsum("nc,ck->nk", [query, key.T])
    mask_neg = torch.ones_like(neg, dtype=bool)
    mask_neg.fill_diagonal_(False)
    neg = neg[mask_neg].reshape(neg.size(0), neg.size(1) - 1)
    logits = torch.cat([pos, neg], dim=1)
    logits_intra = logits / temperature
    prob_intra = F.softmax(logits_intra, dim=1)
    # inter-anchor hardness-awareness
    logits_inter = logits / (temperature * dt_m)
    prob_inter = F.softmax(logits_inter, dim=1)
    # hardness-awareness factor
    inter_intra = (1 - prob_inter[:, 0]) / (1 - prob_intra[:, 0])
    loss = -torch.nn.functional.log_softmax(logits_intra, dim=-1)[:, 0]
    loss = inter_intra.detach() * loss
    return loss.mean(), prob_intra[:, 0].max().item()


def simmoco_plus(q1, q2, k1, k2, temperature, dt_m):
    # training_step, plus_version: normalised queries; keys normalised and
    # detached (the momentum projector runs under no_grad).
    q1, q2 = F.normalize(q1, dim=-1), F.normalize(q2, dim=-1)
    with torch.no_grad():
        k1, k2 = F.normalize(k1, dim=-1).detach(), F.normalize(k2, dim=-1).detach()
    a, pa = dual_temperature_loss_func(q1, k2, temperature=temperature, dt_m=dt_m)
    b, pb = dual_temperature_loss_func(q2, k1, temperature=temperature, dt_m=dt_m)
    return (a + b) / 2, max(pa, pb)


def tensor(t):
    return {"shape": list(t.shape), "dtype": "float64", "data": [float(v) for v in t.flatten()]}


def case(n, d, seed, temperature, dt_m):
    g = torch.Generator().manual_seed(seed)
    # Keys are noisy copies of the same images' queries at another scale, so
    # the positives stand out without saturating the softmax (1 − P stays
    # well away from 0, where the reference's own float64 loses digits).
    q1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    q2 = q1 + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64)
    k1 = 1.5 * q1 + 1.2 * torch.randn(n, d, generator=g, dtype=torch.float64)
    k2 = 0.7 * q2 + 0.9 * torch.randn(n, d, generator=g, dtype=torch.float64)
    q1.requires_grad_()
    q2.requires_grad_()
    loss, p_max = simmoco_plus(q1, q2, k1, k2, temperature, dt_m)
    loss.backward()
    return {
        "method": "simmoco",
        "case": f"simmoco-b{n}-d{d}-s{seed}-t{temperature:g}-m{dt_m:g}",
        "reference": "TRANSCRIBED ChaoningZhang/Dual-temperature solo/losses/dual_temperature_loss.py dual_temperature_loss_func"
        " + solo/methods/simmoco_dual_temperature.py SimMoCo_DualTemperature.training_step (plus_version),"
        " float64 (examples/plugin-with-head/gen_case.py) @ 1f7d277404678dbdc81398a6de1d51eec39cc2e5",
        "params": {"temperature": temperature, "dt_m": dt_m, "seed": seed, "detached": ["k1", "k2"],
                   "note": f"largest positive probability P_ii at temperature: {p_max:.4f}"},
        "inputs": {"q1": tensor(q1.detach()), "q2": tensor(q2.detach()), "k1": tensor(k1), "k2": tensor(k2)},
        "outputs": {"loss": loss.item(), "grads": {"q1": tensor(q1.grad), "q2": tensor(q2.grad)}},
        "tolerance": {"rtol": 1e-06, "atol": 1e-08},
    }


here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
os.makedirs(here, exist_ok=True)
for n, d, seed, t, m in [(8, 16, 1, 0.1, 10.0), (16, 8, 2, 0.2, 5.0), (5, 32, 3, 0.5, 2.0)]:
    c = case(n, d, seed, t, m)
    with open(os.path.join(here, c["case"] + ".json"), "w") as f:
        json.dump(c, f, indent=1)
    print("wrote", c["case"], "loss", c["outputs"]["loss"], c["params"]["note"])
