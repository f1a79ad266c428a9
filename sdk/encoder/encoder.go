// Package encoder holds the trunks a host trains: images in, named features
// out. Encoders are plain gotch modules on an nn.VarStore; a host owns them,
// their optimizer and their EMA target copies (EMAUpdate, Momentum).
//
// New builds one by name (Names lists them): convnet-s (the Fashion-MNIST
// reference trunk), resnet18-cifar, resnet18 and resnet50 (torchvision's
// layout without the fc head). Every variable in an encoder's VarStore is
// named as in the PyTorch module's state_dict ("0.weight",
// "layer1.0.downsample.1.running_var", ...), BatchNorm's
// num_batches_tracked included, so sdk/export can write a file that
// PyTorch's load_state_dict(strict=True) accepts.
package encoder

import (
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
)

// Pooled is the name of an encoder's pooled embedding [N, D] in the features
// Forward returns.
const Pooled = "pooled"

// Layer describes one named feature map an encoder can expose (for layer and
// patch taps: CUT's PatchNCE, PixPro).
type Layer struct {
	// Name is the tap name ("stem", "layer1", ...).
	Name string
	// Channels is C of the [N, C, H, W] map.
	Channels int64
	// Stride is the map's downsampling factor relative to the input.
	Stride int64
}

// Encoder maps images to named features. Calls are not safe for concurrent
// use.
type Encoder interface {
	// Name is the architecture id ("convnet-s", "resnet18-cifar", ...).
	Name() string
	// Forward runs normalised images x [N, C, H, W] and returns the pooled
	// embedding under Pooled plus every named layer asked for. The caller
	// frees the returned tensors (method.Tensors.Drop).
	Forward(x *ts.Tensor, train bool, layers ...string) (method.Tensors, error)
	// Dim is the size D of the pooled embedding.
	Dim() int64
	// Layers lists the feature maps Forward can return.
	Layers() []Layer
	// VarStore holds the encoder's parameters and buffers (BN statistics),
	// named as in the equivalent PyTorch module's state_dict.
	VarStore() *nn.VarStore
	// Copy returns an independent encoder of the same architecture with the
	// same weights and buffers (the start of an EMA target).
	Copy() (Encoder, error)
}
