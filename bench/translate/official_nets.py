"""Writes translate/testdata/official-nets.safetensors: the official CUT
networks (taesungp/contrastive-unpaired-translation, models/networks.py)
built small (ngf = ndf = 4), their weights drawn at random (std 0.3), an
input image, and what the official forward passes return: the generator's
output and its encoder features at CUT's nce_layers 0,4,8,12,16, and the
discriminator's patch scores, for the default (anti-aliased) networks and
the --no_antialias --no_antialias_up ones. Metadata gives the parameter
counts of the full-size networks (resnet_9blocks, resnet_6blocks, ngf 64;
the 3-layer PatchGAN, ndf 64). translate's tests load it; the official code
is not part of this repository: pass a checkout's folder.

    /usr/bin/python3 bench/translate/official_nets.py /path/to/contrastive-unpaired-translation [out]
"""
import json
import struct
import sys

import numpy as np
import torch


def save(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name in sorted(tensors):
        a = tensors[name].detach().contiguous().to(torch.float32).numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    repo = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "translate/testdata/official-nets.safetensors"
    sys.path.insert(0, repo)
    from models import networks

    torch.manual_seed(0)
    meta, tensors = {}, {}
    count = lambda net: sum(p.numel() for p in net.parameters())
    for name in ("resnet_9blocks", "resnet_6blocks"):
        g = networks.define_G(3, 3, 64, name, norm="instance", init_type="xavier", init_gain=0.02)
        meta["params." + name] = str(count(g))
    meta["params.basic"] = str(count(networks.define_D(3, 64, "basic", norm="instance", init_type="xavier", init_gain=0.02)))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    tensors["input"] = x
    layers = [0, 4, 8, 12, 16]
    for tag, noaa in (("aa", False), ("noaa", True)):
        opt = type("opt", (), {"no_antialias": noaa, "no_antialias_up": noaa})
        g = networks.ResnetGenerator(3, 3, ngf=4, norm_layer=networks.get_norm_layer("instance"), n_blocks=6,
                                     no_antialias=noaa, no_antialias_up=noaa, opt=opt)
        d = networks.NLayerDiscriminator(3, 4, n_layers=3, norm_layer=networks.get_norm_layer("instance"), no_antialias=noaa)
        for net in (g, d):
            with torch.no_grad():
                for p in net.parameters():
                    p.normal_(0, 0.3)
        with torch.no_grad():
            tensors[tag + ".G.output"] = g(x)
            for i, f in zip(layers, g(x, list(layers), encode_only=True)):
                tensors["%s.G.feat.%d" % (tag, i)] = f
            tensors[tag + ".D.output"] = d(x)
        for k, v in g.state_dict().items():
            tensors[tag + ".G." + k] = v
        for k, v in d.state_dict().items():
            tensors[tag + ".D." + k] = v
        meta[tag + ".G.layers"] = str(len(g.model))
    save(out, tensors, meta)
    print(out, {k: v for k, v in meta.items() if k.startswith("params")})


if __name__ == "__main__":
    main()
