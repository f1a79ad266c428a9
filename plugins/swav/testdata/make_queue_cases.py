#!/usr/bin/python3
"""Golden cases for the queue variant of the swav loss (METHODS.md, swav).

A float64 transcription of the swav-loss block of facebookresearch/swav's
main_swav.py train() (L289-315 @ 06b1b7cbaf6ba2a792300d79c7299db98b93b7f9)
with its queue, and of distributed_sinkhorn on one process. Run with
Debian's torch: /usr/bin/python3 make_queue_cases.py (writes queue/*.json).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
REF = ("TRANSCRIBED: facebookresearch/swav main_swav.py train() swav loss with the queue "
       "(L289-315) and distributed_sinkhorn, world size 1, float64, by selfsup "
       "plugins/swav/testdata/make_queue_cases.py @ 06b1b7cbaf6ba2a792300d79c7299db98b93b7f9")


def codes(x, eps, iters):
    """Sinkhorn-Knopp on scores x [B, K]: prototypes' rows, then samples' columns."""
    q = torch.exp(x / eps).t()  # [K, B]
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iters):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).t()


def enc(x):
    return {"shape": list(x.shape), "dtype": "float64", "data": [float(v) for v in x.flatten().tolist()]}


def make(name, seed, n, d, k, nmb_crops, length, fill, t=0.1, eps=0.05, iters=3, assign=(0, 1)):
    g = torch.Generator().manual_seed(seed)
    ncrops = sum(nmb_crops)
    emb = F.normalize(torch.randn(ncrops * n, d, generator=g), dim=1)
    proto = F.normalize(torch.randn(k, d, generator=g), dim=1)
    queue = torch.zeros(len(assign), length, d)
    for i, rows in enumerate(fill):
        queue[i, :rows] = F.normalize(torch.randn(rows, d, generator=g), dim=1)
    before = queue.clone()
    scores = (emb @ proto.t()).detach().requires_grad_(True)

    loss = 0.0
    use_the_queue = False
    for i, a in enumerate(assign):
        with torch.no_grad():
            out = scores[n * a:n * (a + 1)].detach()
            if use_the_queue or not torch.all(queue[i, -1, :] == 0):
                use_the_queue = True
                out = torch.cat((queue[i] @ proto.t(), out))
            queue[i, n:] = queue[i, :-n].clone()
            queue[i, :n] = emb[a * n:(a + 1) * n]
            q = codes(out, eps, iters)[-n:]
        sub = 0.0
        for v in range(ncrops):
            if v == a:
                continue
            p = torch.softmax(scores[n * v:n * (v + 1)] / t, dim=1)
            sub = sub - torch.mean(torch.sum(q * torch.log(p), dim=1))
        loss = loss + sub / (ncrops - 1)
    loss = loss / len(assign)
    loss.backward()

    case = {
        "method": "swav", "case": name, "reference": REF,
        "params": {"seed": seed, "temperature": t, "epsilon": eps, "sinkhorn_iterations": iters,
                   "crops_for_assign": list(assign), "nmb_crops": nmb_crops, "world_size": 1,
                   "queue_length": length, "detached": ["embedding", "prototypes", "queue"],
                   "note": "queue in use: %s" % use_the_queue},
        "inputs": {"scores": enc(scores.detach()), "embedding": enc(emb), "prototypes": enc(proto),
                   "queue": enc(before)},
        "outputs": {"loss": float(loss), "grads": {"scores": enc(scores.grad)}, "state": {"queue": enc(queue)}},
        "tolerance": {"rtol": 1e-6, "atol": 1e-8},
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "queue", name + ".json"), "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")
    print(name, float(loss), "queue used:", use_the_queue)


# a full queue: codes over L + N rows
make("swav-queue-full-s90-n4-d8-k6-crops2-l8", 90, 4, 8, 6, [2], 8, [8, 8])
# a queue still filling (last rows zero): codes from the batch alone; the queue shifts
make("swav-queue-filling-s91-n4-d8-k6-crops2x2-l12", 91, 4, 8, 6, [2, 2], 12, [4, 4])
# slot 0 full, slot 1 not: use_the_queue stays on for slot 1 (its zero rows included)
make("swav-queue-carry-s92-n3-d6-k5-crops2x3-l6", 92, 3, 6, 5, [2, 3], 6, [6, 3])
