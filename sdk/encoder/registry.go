package encoder

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
)

// constructor builds a freshly initialised encoder.
type constructor func(inChannels int64, dev gotch.Device) (*trunk, error)

// registry is the table of built-in architectures, built on each call so
// that nothing in the package can be changed at run time.
func registry() map[string]constructor {
	resnet := func(spec resnetSpec) constructor {
		return func(in int64, dev gotch.Device) (*trunk, error) { return newResNet(spec, in, dev, true) }
	}
	return map[string]constructor{
		ConvNetS:      func(in int64, dev gotch.Device) (*trunk, error) { return newConvNetS(in, dev, true) },
		ResNet18CIFAR: resnet(resnetSpec{name: ResNet18CIFAR, blocks: [4]int{2, 2, 2, 2}, cifarStem: true}),
		ResNet18:      resnet(resnetSpec{name: ResNet18, blocks: [4]int{2, 2, 2, 2}}),
		ResNet50:      resnet(resnetSpec{name: ResNet50, blocks: [4]int{3, 4, 6, 3}, bottleneck: true}),
	}
}

// Names lists the built-in architectures New knows, sorted.
func Names() []string {
	r := registry()
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New builds the architecture name for images of inChannels channels on
// dev, initialised as PyTorch initialises the same module (convnet-s: the
// nn.Conv2d/nn.BatchNorm2d defaults; ResNets: torchvision's init). Weights
// are drawn from libtorch's global generator, so backend.ManualSeed fixes
// them.
func New(name string, inChannels int64, dev gotch.Device) (Encoder, error) {
	c, ok := registry()[name]
	if !ok {
		return nil, fmt.Errorf("unknown encoder %q: use one of %v", name, Names())
	}
	if inChannels < 1 {
		return nil, fmt.Errorf("encoder %s: %d input channels: give the images' channel count (1 for grayscale, 3 for RGB)", name, inChannels)
	}
	t, err := c(inChannels, dev)
	if err != nil {
		return nil, err
	}
	return t, nil
}
