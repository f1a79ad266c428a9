package encoder

import (
	"fmt"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ConvNetS is the id of the small trunk that the Fashion-MNIST reference
// uses: five conv3x3-BN-ReLU blocks (32, 64 /2, 64, 128 /2, 128 channels,
// convolutions without bias), then a global average pool to 128-d.
const ConvNetS = "convnet-s"

// newConvNetS builds convnet-s for inChannels-channel images. Its variables
// carry the names of the reference's nn.Sequential (common.py convnet_s):
// block i's conv is module 3i ("0.weight", "3.weight", ...) and its
// BatchNorm module 3i+1 ("1.weight", "1.bias", "1.running_mean",
// "1.running_var", "1.num_batches_tracked", ...). Taps are "block1" to
// "block5", each after its ReLU.
func newConvNetS(inChannels int64, dev gotch.Device, init bool) (*trunk, error) {
	// (out channels, stride) of each block
	blocks := [...]struct{ out, stride int64 }{{32, 1}, {64, 2}, {64, 1}, {128, 2}, {128, 1}}
	t := &trunk{name: ConvNetS, in: inChannels, dim: 128, vs: nn.NewVarStore(dev), bn: &bnConfig{}}
	t.build = func(init bool) (*trunk, error) { return newConvNetS(inChannels, dev, init) }
	b := &builder{dev: dev, init: init, bn: t.bn}
	root := t.vs.Root()
	cin, stride := inChannels, int64(1)
	for i, blk := range blocks {
		c := b.conv(root.Sub(strconv.Itoa(3*i)), cin, blk.out, 3, blk.stride, 1, pytorchDefault)
		bn := b.batchNorm(root.Sub(strconv.Itoa(3*i+1)), blk.out)
		if b.err != nil {
			t.vs.Destroy()
			return nil, fmt.Errorf("build %s: %w", ConvNetS, b.err)
		}
		stride *= blk.stride
		t.stages = append(t.stages, stage{
			Layer: Layer{Name: "block" + strconv.Itoa(i+1), Channels: blk.out, Stride: stride},
			run: func(x *ts.Tensor, train bool) (*ts.Tensor, error) {
				return convBN(c, bn, x, train, true)
			},
		})
		cin = blk.out
	}
	return t, nil
}
