#!/usr/bin/env python3
"""PyTorch peer of BenchmarkConvNetSStep (sdk/encoder/batchnorm_test.go).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench_convnet_s.py [THREADS] [STEPS]

convnet-s (as ../shared/reference/pytorch-fmnist/common.py defines it) on
512 images of 1x28x28 (batch 256, two views), train mode, loss
mean(pooled^2), backward, gradients zeroed: the trunk's share of a SimCLR
step. Prints the median forward, backward and total milliseconds.
"""
import math
import statistics
import sys
import time

import torch
import torch.nn as nn


def convnet_s():
    def blk(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*blk(1, 32, 1), *blk(32, 64, 2), *blk(64, 64, 1),
                         *blk(64, 128, 2), *blk(128, 128, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def main(threads=2, steps=20):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = convnet_s()
    n = 512 * 28 * 28
    x = torch.tensor([math.sin(0.37 * i) for i in range(n)], dtype=torch.float32).reshape(512, 1, 28, 28)
    fwd, bwd = [], []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = m(x).square().mean()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        m.zero_grad(set_to_none=False)
        if i >= 2:  # warm-up
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    f, b = statistics.median(fwd) * 1e3, statistics.median(bwd) * 1e3
    print("torch %s threads=%d steps=%d: forward %.0f ms, backward %.0f ms, total %.0f ms (median)"
          % (torch.__version__, torch.get_num_threads(), steps, f, b, f + b))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 2, int(a[1]) if len(a) > 1 else 20)
