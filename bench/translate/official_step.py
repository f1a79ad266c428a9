"""Times the official CUT iteration (taesungp/contrastive-unpaired-translation,
CUTModel.optimize_parameters: G forward, D step, G step with PatchNCE and its
MLPs) on this machine, for comparison with selfsup-translate's iterations.
The official code is not part of this repository: pass a checkout's folder.
It needs only numpy and torch (Debian's python3-torch): PIL, torchvision,
dominate and packaging, which the model never calls here (packaging only
to compare torch's version), are stubbed. The images
are random tensors of the given side (the model's cost does not depend on
their content).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/translate/official_step.py CUT_REPO [cut|fastcut] [size] [threads] [iters]
"""
import argparse
import sys
import time
import types

import torch


def stub_modules():
    for name in ("PIL", "PIL.Image", "torchvision", "torchvision.transforms", "dominate", "dominate.tags"):
        m = types.ModuleType(name)
        m.__dict__.update({k: None for k in ("Image", "meta", "h3", "table", "tr", "td", "p", "a", "img", "br", "BICUBIC", "NEAREST", "BILINEAR")})
        sys.modules[name] = m
    sys.modules["PIL"].Image = sys.modules["PIL.Image"]
    # patchnce.py compares torch's version with packaging's parser
    pk, pv = types.ModuleType("packaging"), types.ModuleType("packaging.version")
    pv.parse = lambda v: tuple(int(x) for x in v.split("+")[0].split(".")[:3] if x.isdigit())
    pk.version = pv
    sys.modules.update({"packaging": pk, "packaging.version": pv})
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]


def main():
    repo = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "cut"
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    iters = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    stub_modules()
    sys.path.insert(0, repo)
    from models.cut_model import CUTModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # options/base_options.py and train_options.py defaults, with cut_model's
    # mode presets, netG resnet_6blocks, CPU
    opt = argparse.Namespace(
        isTrain=True, gpu_ids=[], checkpoints_dir="/tmp/cut-bench-ckpt", name="bench", continue_train=False,
        input_nc=3, output_nc=3, ngf=64, ndf=64, netD="basic", netG="resnet_6blocks", n_layers_D=3,
        normG="instance", normD="instance", init_type="xavier", init_gain=0.02, no_dropout=True,
        no_antialias=False, no_antialias_up=False, direction="AtoB", preprocess="resize_and_crop",
        epoch="latest", epoch_count=1, verbose=False, pretrained_name=None, lr=0.0002, beta1=0.5, beta2=0.999,
        gan_mode="lsgan", lr_policy="linear", lr_decay_iters=50, n_epochs=200, n_epochs_decay=200,
        CUT_mode=mode, lambda_GAN=1.0, lambda_NCE=1.0, nce_idt=True, nce_layers="0,4,8,12,16",
        nce_includes_all_negatives_from_minibatch=False, netF="mlp_sample", netF_nc=256, nce_T=0.07,
        num_patches=256, flip_equivariance=False, batch_size=1, nz=64, stylegan2_G_num_downsampling=1)
    if mode == "fastcut":
        opt.nce_idt, opt.lambda_NCE, opt.flip_equivariance, opt.n_epochs, opt.n_epochs_decay = False, 10.0, True, 150, 50
    model = CUTModel(opt)
    batch = lambda: {"A": torch.rand(1, 3, size, size) * 2 - 1, "B": torch.rand(1, 3, size, size) * 2 - 1, "A_paths": ["a"], "B_paths": ["b"]}
    model.data_dependent_initialize(batch())
    model.setup(opt)
    model.parallelize()
    for _ in range(2):  # warm-up
        model.set_input(batch())
        model.optimize_parameters()
    times = []
    for _ in range(iters):
        model.set_input(batch())
        t0 = time.perf_counter()
        model.optimize_parameters()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"official {mode} {size}x{size} {threads} thread(s): median {times[len(times) // 2]:.3f} s/iteration ({iters} iterations)")


if __name__ == "__main__":
    main()
