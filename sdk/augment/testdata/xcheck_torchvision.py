"""Compares sdk/augment's ops with torchvision.transforms.functional.

Run by TestTorchvisionCrossCheck when SELFSUP_XCHECK=1 and python3 has
torch and torchvision: the Go test writes raw float32 files into the folder
given as argv[1]; this script recomputes each op with torchvision from the
same parameters and prints the largest absolute difference per op, one
"name diff" line each.
"""
import sys
import numpy as np, torch
import torchvision.transforms.functional as TF
L = lambda n, shape: torch.from_numpy(np.fromfile(sys.argv[1]+"/"+n, dtype=np.float32).reshape(shape))
x = L("x.bin", (64,3,28,28))
crop = L("crop.bin", (64,3,20,20)); boxes = L("boxes.bin", (64,4))
ref = []
for k in range(64):
    x0,y0,x1,y1 = boxes[k].tolist()
    flip = x0 > x1
    j, w = int(min(x0,x1)), int(abs(x1-x0)); i, h = int(y0), int(y1-y0)
    im = TF.resized_crop(x[k], i, j, h, w, [20,20], interpolation=TF.InterpolationMode.BILINEAR)
    if flip: im = TF.hflip(im)
    ref.append(im)
print("crop+flip", (torch.stack(ref)-crop).abs().max().item())
f = [0.2 + 1.6*i/63 for i in range(64)]; h = [-0.5 + i/63 for i in range(64)]
for name, fn, fac in [("bright", TF.adjust_brightness, f), ("contrast", TF.adjust_contrast, f), ("blend_contrast", TF.adjust_contrast, f), ("sat", TF.adjust_saturation, f), ("hue", TF.adjust_hue, h)]:
    out = L(name+".bin", (64,3,28,28))
    ref = torch.stack([fn(x[k], fac[k]) for k in range(64)])
    print(name, (ref-out).abs().max().item())
print("gray", (L("gray.bin",(64,3,28,28)) - TF.rgb_to_grayscale(x, 3)).abs().max().item())
print("solar", (L("solar.bin",(64,3,28,28)) - TF.solarize(x, 0.5)).abs().max().item())
ref = torch.stack([TF.gaussian_blur(x[k], [7,7], [f[k], f[k]]) for k in range(64)])
print("blur", (L("blur.bin",(64,3,28,28)) - ref).abs().max().item())
