// Package simclrv2 is the SimCLR v2 family (Chen et al. 2020, "Big
// Self-Supervised Models are Strong Semi-Supervised Learners"):
//   - simclrv2: SimCLR's NT-Xent (plugins/simclr) over a deeper, 3-layer
//     projection head;
//   - simclrv2_distill: self-distillation of a student from a frozen
//     teacher's temperature-softened predictions on unlabeled images.
//
// Import the package to run the methods in process, or serve them with the
// plugin binary in cmd/selfsup-simclrv2.
package simclrv2

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
)

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor {
	return []method.Constructor{Constructor(), DistillConstructor()}
}

// Name is the id of SimCLR v2's contrastive pre-training.
const Name = "simclrv2"

// Config scales google-research/simclr's v2 head (tf2/model.py
// ProjectionHead with proj_head_mode nonlinear, num_proj_layers 3: two
// Linear-BN-ReLU layers as wide as the trunk's features, then Linear(128)
// and a BatchNorm; the linears before a BN carry no bias) to Fashion-MNIST:
// layers D-D-D-64 for 128-d convnet-s features, like plugins/simclr's
// 64-d output. Temperature 0.5, the SimCLR paper's best for the small
// batches of CIFAR-sized runs (its appendix B.9; google's default 0.1 is
// for batches of 4096).
type Config struct {
	Temperature float64 `param:"temperature" default:"0.5" doc:"NT-Xent temperature (> 0)"`
	ProjLayers  int64   `param:"proj_layers" default:"3" doc:"linear layers of the projection head (≥ 1)"`
	ProjHidden  int64   `param:"proj_hidden" default:"0" doc:"hidden width of the head; 0 means as wide as the trunk's features"`
	ProjOut     int64   `param:"proj_out" default:"64" doc:"output width of the head"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Temperature <= 0 || c.ProjLayers < 1 || c.ProjHidden < 0 {
		return fmt.Errorf("temperature %v, proj_layers %d, proj_hidden %d: want temperature > 0, at least 1 layer, hidden ≥ 0", c.Temperature, c.ProjLayers, c.ProjHidden)
	}
	return nil
}

// Def is SimCLR v2's pre-training for the method kit: SimCLR's views and
// NT-Xent (its Loss is simclr's) over HeadConfig's head, run on both views
// as one BatchNorm batch of 2N (as the reference runs the concatenated
// views), Adam on the head.
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "SimCLR v2: NT-Xent over a 3-layer projection head on two augmented views",
	Spec: func(*Config) method.Spec { return simclr.Def.Spec(nil) },
	Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
		head, err := nn.NewMLP(h.Sub("proj"), h.Rng, HeadConfig(h.Dim, c.ProjLayers, c.ProjHidden, c.ProjOut))
		return simclr.NewStep(head, c.Temperature), errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	Loss: &methodkit.Loss[Config]{Roles: []string{"z1", "z2"}, Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
		return simclr.Def.Loss.Fn(r, &simclr.Config{Temperature: c.Temperature}, p)
	}},
	MinBatch: 2,
}

// New returns a SimCLR v2 method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh SimCLR v2 methods.
func Constructor() method.Constructor { return methodkit.Constructor(Def) }

// HeadConfig is the projection head for trunk features of size dim:
// layers−1 Linear(no bias)-BN-ReLU blocks of width hidden (dim when 0), then
// Linear(out) and a BatchNorm. The reference's last BatchNorm scales but
// does not centre; nn.MLP's affine BatchNorm also learns a shift, which the
// loss's normalisation makes nearly immaterial.
func HeadConfig(dim, layers, hidden, out int64) nn.MLPConfig {
	if hidden == 0 {
		hidden = dim
	}
	dims := []int64{dim}
	for range layers - 1 {
		dims = append(dims, hidden)
	}
	dims = append(dims, out)
	return nn.MLPConfig{Dims: dims, BatchNorm: true, NoHiddenBias: true, LastBN: true, LastBNAffine: true}
}
