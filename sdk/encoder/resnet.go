package encoder

import (
	"fmt"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ResNet ids.
const (
	// ResNet18 is torchvision's resnet18 without its fc head (7x7 stride-2
	// stem and a max pool): 512-d, for images of 64 pixels and up.
	ResNet18 = "resnet18"
	// ResNet50 is torchvision's resnet50 (bottleneck blocks, v1.5: stride
	// on the 3x3) without its fc head: 2048-d.
	ResNet50 = "resnet50"
	// ResNet18CIFAR is resnet18 with the usual small-image stem (3x3
	// stride-1 conv1, no max pool), as SimCLR/solo-learn/lightly use on
	// CIFAR-sized inputs: 512-d.
	ResNet18CIFAR = "resnet18-cifar"
)

// resnetSpec is what distinguishes the three ResNets.
type resnetSpec struct {
	name       string
	bottleneck bool
	blocks     [4]int
	cifarStem  bool
}

// residual is a torchvision BasicBlock (convs 1-2) or Bottleneck (convs
// 1-3), with an optional downsample (1x1 conv + BN) on the identity path.
type residual struct {
	convs  []*conv
	bns    []*batchNorm
	down   *conv
	downBN *batchNorm
}

func (r *residual) forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	h := x
	for i := range r.convs {
		last := i == len(r.convs)-1
		y, err := convBN(r.convs[i], r.bns[i], h, train, !last)
		if h != x {
			h.MustDrop()
		}
		if err != nil {
			return nil, err
		}
		h = y
	}
	identity := x
	if r.down != nil {
		d, err := convBN(r.down, r.downBN, x, train, false)
		if err != nil {
			h.MustDrop()
			return nil, fmt.Errorf("downsample: %w", err)
		}
		defer d.MustDrop()
		identity = d
	}
	if err := add_(h, identity); err != nil {
		h.MustDrop()
		return nil, err
	}
	if err := relu_(h); err != nil {
		h.MustDrop()
		return nil, err
	}
	return h, nil
}

// runAll runs blocks in order, freeing every intermediate output.
func runAll(blocks []*residual, x *ts.Tensor, train bool) (*ts.Tensor, error) {
	h := x
	for i, blk := range blocks {
		y, err := blk.forward(h, train)
		if h != x {
			h.MustDrop()
		}
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		h = y
	}
	return h, nil
}

// newResNet builds a ResNet trunk under torchvision's state_dict names
// (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0/1, ...) and init
// (kaiming_normal_ fan_out for convs, BN weight 1 and bias 0). Taps:
// "stem" (after conv1-bn1-relu and, outside the CIFAR variant, the max pool)
// and "layer1" to "layer4".
func newResNet(spec resnetSpec, inChannels int64, dev gotch.Device, init bool) (*trunk, error) {
	expansion := int64(1)
	if spec.bottleneck {
		expansion = 4
	}
	t := &trunk{name: spec.name, in: inChannels, dim: 512 * expansion, vs: nn.NewVarStore(dev), bn: &bnConfig{}}
	t.build = func(init bool) (*trunk, error) { return newResNet(spec, inChannels, dev, init) }
	b := &builder{dev: dev, init: init, bn: t.bn}
	root := t.vs.Root()

	var stem *conv
	stride := int64(1)
	if spec.cifarStem {
		stem = b.conv(root.Sub("conv1"), inChannels, 64, 3, 1, 1, torchvisionResNet)
	} else {
		stem = b.conv(root.Sub("conv1"), inChannels, 64, 7, 2, 3, torchvisionResNet)
		stride = 4
	}
	stemBN := b.batchNorm(root.Sub("bn1"), 64)
	pool := !spec.cifarStem
	t.stages = append(t.stages, stage{
		Layer: Layer{Name: "stem", Channels: 64, Stride: stride},
		run: func(x *ts.Tensor, train bool) (*ts.Tensor, error) {
			h, err := convBN(stem, stemBN, x, train, true)
			if err != nil || !pool {
				return h, err
			}
			defer h.MustDrop()
			return maxPool2d(h, 3, 2, 1)
		},
	})

	inplanes := int64(64)
	for li, n := range spec.blocks {
		planes := int64(64) << li
		s := int64(1)
		if li > 0 {
			s = 2
		}
		stride *= s
		lp := root.Sub("layer" + strconv.Itoa(li+1))
		blocks := make([]*residual, n)
		for bi := range n {
			bs := int64(1)
			if bi == 0 {
				bs = s
			}
			bp := lp.Sub(strconv.Itoa(bi))
			// (in, out, kernel, stride, padding) of conv1, conv2[, conv3]
			type convSpec struct{ cin, cout, k, stride, pad int64 }
			specs := []convSpec{{inplanes, planes, 3, bs, 1}, {planes, planes, 3, 1, 1}}
			if spec.bottleneck {
				specs = []convSpec{{inplanes, planes, 1, 1, 0}, {planes, planes, 3, bs, 1}, {planes, planes * expansion, 1, 1, 0}}
			}
			r := &residual{}
			for i, cs := range specs {
				n := strconv.Itoa(i + 1)
				r.convs = append(r.convs, b.conv(bp.Sub("conv"+n), cs.cin, cs.cout, cs.k, cs.stride, cs.pad, torchvisionResNet))
				r.bns = append(r.bns, b.batchNorm(bp.Sub("bn"+n), cs.cout))
			}
			if bs != 1 || inplanes != planes*expansion {
				dp := bp.Sub("downsample")
				r.down = b.conv(dp.Sub("0"), inplanes, planes*expansion, 1, bs, 0, torchvisionResNet)
				r.downBN = b.batchNorm(dp.Sub("1"), planes*expansion)
			}
			if b.err != nil {
				t.vs.Destroy()
				return nil, fmt.Errorf("build %s: %w", spec.name, b.err)
			}
			blocks[bi] = r
			inplanes = planes * expansion
		}
		t.stages = append(t.stages, stage{
			Layer: Layer{Name: "layer" + strconv.Itoa(li+1), Channels: planes * expansion, Stride: stride},
			run: func(x *ts.Tensor, train bool) (*ts.Tensor, error) {
				return runAll(blocks, x, train)
			},
		})
	}
	if b.err != nil {
		t.vs.Destroy()
		return nil, fmt.Errorf("build %s: %w", spec.name, b.err)
	}
	return t, nil
}
