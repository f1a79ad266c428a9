#!/usr/bin/env python3
"""Load a selfsup safetensors export into the PyTorch architecture.

    python3 torch_load.py FILE ARCH IN_CHANNELS SIZE [SEED]

Builds ARCH in PyTorch (convnet-s exactly as the Fashion-MNIST reference's
common.py defines it; resnet18, resnet50 and resnet18-cifar from
torchvision without the fc head), loads FILE with
load_state_dict(strict=True), and prints JSON with the pooled features of
the deterministic input x[i] = sin(0.37 i) of shape [2, IN_CHANNELS, SIZE,
SIZE], first in eval mode and then in train mode. With SEED, it also says
whether a fresh model initialised under torch.manual_seed(SEED) holds
exactly the file's values ("init_equal").

The file is parsed with json and struct only (the safetensors package is
not needed).
"""
import json
import math
import struct
import sys

import torch
import torch.nn as nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def convnet_s(cin):
    # same as ../shared/reference/pytorch-fmnist/common.py convnet_s (with cin)
    def blk(i, o, stride):
        return [nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return nn.Sequential(*blk(cin, 32, 1), *blk(32, 64, 2), *blk(64, 64, 1),
                         *blk(64, 128, 2), *blk(128, 128, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def build(arch, cin):
    if arch == "convnet-s":
        return convnet_s(cin)
    import torchvision
    name = {"resnet18": "resnet18", "resnet18-cifar": "resnet18", "resnet50": "resnet50"}[arch]
    m = getattr(torchvision.models, name)()
    if arch == "resnet18-cifar":
        m.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    elif cin != 3:
        m.conv1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
    m.fc = nn.Identity()
    return m


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    sd = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]]) if end > b \
            else torch.empty(0, dtype=DTYPES[e["dtype"]])
        sd[name] = t.reshape(e["shape"])
    return sd, meta


def main(path, arch, cin, size, seed=None):
    torch.set_num_threads(1)
    sd, meta = read(path)
    res = {"metadata": meta}
    if seed is not None:
        torch.manual_seed(seed)
        fresh = build(arch, cin).state_dict()
        res["init_equal"] = sorted(fresh) == sorted(sd) and all(torch.equal(fresh[k], sd[k]) for k in sd)
    m = build(arch, cin)
    m.load_state_dict(sd, strict=True)
    count = 2 * cin * size * size
    x = torch.tensor([math.sin(0.37 * i) for i in range(count)], dtype=torch.float32)
    x = x.reshape(2, cin, size, size)
    with torch.no_grad():
        m.eval()
        res["eval"] = m(x).flatten().tolist()
        m.train()
        res["train"] = m(x).flatten().tolist()
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else None)
