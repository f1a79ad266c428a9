// Package simclr is the SimCLR method family: NT-Xent (lightly's form, with
// each anchor's self-similarity removed) over a projection head on two
// online views. Import it to run SimCLR in process, or serve it with the
// plugin binary in cmd/selfsup-simclr.
package simclr

import (
	"errors"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Name is the method id.
const Name = "simclr"

// Config is SimCLR's Fashion-MNIST reference recipe.
type Config struct {
	Temperature float64 `param:"temperature" default:"0.5" doc:"NT-Xent temperature (> 0)"`
	ProjHidden  int64   `param:"proj_hidden" default:"128" doc:"hidden width of the head Linear-BN-ReLU-Linear"`
	ProjOut     int64   `param:"proj_out" default:"64" doc:"output width of the head"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Temperature <= 0 {
		return errors.New("temperature must be positive")
	}
	return nil
}

// Def is SimCLR for the method kit: two online views with the "simclr"
// recipe, a projection head run on both views as one BatchNorm batch of 2N
// (as the reference does), NT-Xent, Adam on the head.
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "SimCLR: NT-Xent over a projection head on two augmented views",
	Spec: func(*Config) method.Spec {
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "simclr", Online: true},
			{Name: "v2", Recipe: "simclr", Online: true},
		}, Pass: method.Together} // tf2/model.py: tf.concat of the views along the batch
	},
	Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
		head, err := nn.NewMLP(h.Sub("proj"), h.Rng, nn.Projector(h.Dim, c.ProjHidden, c.ProjOut))
		return NewStep(head, c.Temperature), errors.Join(err, h.Adam(c.LR, c.WeightDecay))
	},
	Loss: &methodkit.Loss[Config]{Roles: []string{"z1", "z2"}, Fn: func(r method.Tensors, c *Config, _ method.Params) (*ts.Tensor, error) {
		if err := methodkit.SamePairs(r["z1"], r["z2"], 2); err != nil {
			return nil, err
		}
		return NTXent(r["z1"], r["z2"], c.Temperature), nil
	}},
	MinBatch: 2,
}

// NewStep is SimCLR's training step over any projection head (SimCLR v2
// reuses it with its deeper head): both views through head as one batch,
// NT-Xent at temperature t.
func NewStep(head methodkit.Head, t float64) methodkit.Stepper { return &step{head, t} }

type step struct {
	head methodkit.Head
	t    float64
}

func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z := s.Together(m.head, "v1", "v2")
	s.Metric("temperature", m.t)
	return NTXent(z[0], z[1], m.t), nil
}

// New returns a SimCLR method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh SimCLR methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// NTXent is the loss of METHODS.md's simclr section: with u = normalize(z1)
// and v = normalize(z2), each of the 2N anchors has as logits its
// similarities (/temperature) to all 2N embeddings but itself, its positive
// is the other view of the same image, and the loss is the mean CE over the
// anchors. It computes in z1's dtype; the caller owns the result.
func NTXent(z1, z2 *ts.Tensor, temperature float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n, dev := z1.MustSize()[0], z1.MustDevice()
	all := s.T(ts.MustCat([]*ts.Tensor{s.T(nn.Normalize(z1)), s.T(nn.Normalize(z2))}, 0))
	sim := s.T(all.MustMatmul(s.T(all.MustT(false)), false))
	sim = s.T(sim.MustDivScalar(ts.FloatScalar(temperature), false))
	sim = s.T(sim.MustMaskedFill(s.T(ts.MustEye(2*n, gotch.Bool, dev)), ts.FloatScalar(math.Inf(-1)), false))
	// anchor i (< n) has its positive at n+i, anchor n+i at i: (i + n) mod 2n
	pos := s.T(s.T(s.T(nn.Arange(2*n, dev)).MustAddScalar(ts.IntScalar(n), false)).MustRemainder(ts.IntScalar(2*n), false))
	return nn.CrossEntropy(sim, pos)
}
