// Package contrastive is the family of contrastive losses that differ from
// SimCLR only in how they score one view against the other: Wang & Isola's
// alignment and uniformity (align_uniform), debiased contrastive learning
// (debiased), hard negative sampling (hardneg), FlatNCE (flatnce), CPC's
// InfoNCE (infonce) and binary noise-contrastive estimation (nce).
//
// Every method trains like SimCLR: two online views with the "simclr"
// augmentation recipe, the trunk's pooled features through a projection head
// Linear(D,128)-BN-ReLU-Linear(128,64) (one BatchNorm batch of 2N) with its
// own Adam, and the method's loss on the two projections. Each loss is also
// an exported pure function (losses.go) that Loss evaluates on the roles of
// sdk/conformance/testdata/METHODS.md. Import the package to run the methods
// in process, or serve them with the plugin binary in
// cmd/selfsup-contrastive.
package contrastive

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Method ids.
const (
	AlignUniformName = "align_uniform"
	DebiasedName     = "debiased"
	HardNegName      = "hardneg"
	FlatNCEName      = "flatnce"
	InfoNCEName      = "infonce"
	NCEName          = "nce"
)

// Constructors lists the family's methods, sorted by name (for plugin.Serve
// and the registry).
func Constructors() []method.Constructor { return slices.Clone(family) }

// Constructor returns the constructor of one of the family's methods, or
// false when name is not one of them.
func Constructor(name string) (method.Constructor, bool) {
	for _, c := range family {
		if c.Name == name {
			return c, true
		}
	}
	return method.Constructor{}, false
}

// New returns the family's method name, not yet set up (Loss works at
// once). It panics on a name outside the family (see Constructors).
func New(name string) method.Method {
	c, ok := Constructor(name)
	if !ok {
		panic(fmt.Sprintf("contrastive: no method %q", name))
	}
	return c.New()
}

// Head is the projection head's and its optimizer's config, embedded in
// every method's config: SimCLR's Fashion-MNIST head and the Adam settings
// of the DCL and HCL reference code.
type Head struct {
	ProjHidden  int64   `param:"proj_hidden" default:"128" doc:"hidden width of the head Linear-BN-ReLU-Linear"`
	ProjOut     int64   `param:"proj_out" default:"64" doc:"output width of the head"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

func (h *Head) head() *Head { return h }

func (h *Head) check() error {
	switch {
	case h.ProjHidden <= 0 || h.ProjOut <= 0:
		return fmt.Errorf("proj_hidden %d and proj_out %d must be positive", h.ProjHidden, h.ProjOut)
	case h.LR < 0 || h.WeightDecay < 0:
		return fmt.Errorf("lr %v and weight_decay %v must be non-negative", h.LR, h.WeightDecay)
	}
	return nil
}

// row is one method of the family: what differs from the others.
type row[C any] struct {
	name, summary string
	roles         []string // the Loss's input roles
	// loss is the Loss on its roles; Step calls it on the two views'
	// projections as roles[0], roles[1] unless pair is set.
	loss func(r method.Tensors, c *C) (*ts.Tensor, error)
	// pair is the training loss on the projections z1, z2 [N, out] (logZ is
	// nce's log normaliser, else nil); tensors it makes go into s.
	pair func(s *tensor.Scope, c *C, logZ, z1, z2 *ts.Tensor) (*ts.Tensor, error)
	// raw skips the L2 normalisation of the projections before the loss
	// (the reference models return normalised projections).
	raw  func(c *C) bool
	logZ bool // nce: a learned log normaliser beside the head
	// pass is how the official code runs the two views through the trunk.
	pass method.Pass
}

// member makes row's method on the kit. P lets the shared code reach the
// embedded Head of any config.
func member[C any, P interface {
	*C
	head() *Head
}](r row[C]) method.Constructor {
	return methodkit.Constructor(methodkit.Def[C]{
		Name: r.name, Summary: r.summary,
		Spec: func(*C) method.Spec {
			return method.Spec{Views: []method.View{
				{Name: "v1", Recipe: "simclr", Online: true},
				{Name: "v2", Recipe: "simclr", Online: true},
			}, Pass: r.pass}
		},
		Build: func(h *methodkit.Heads, c *C) (methodkit.Stepper, error) {
			hc := P(c).head()
			st := &step[C]{row: &r, cfg: c}
			var err error
			st.head, err = nn.NewMLP(h.Sub("proj"), h.Rng, nn.Projector(h.Dim, hc.ProjHidden, hc.ProjOut))
			if err == nil && r.logZ {
				var z *ts.Tensor
				if z, err = nn.Filled(0, h.Dev, 1); err == nil {
					st.logZ, err = nn.AddParam(h.Sub("nce"), "log_z", z)
				}
			}
			return st, errors.Join(err, h.Adam(hc.LR, hc.WeightDecay))
		},
		Loss: &methodkit.Loss[C]{Roles: r.roles, Fn: func(t method.Tensors, c *C, _ method.Params) (*ts.Tensor, error) {
			if err := sameFloat(t, r.roles); err != nil {
				return nil, err
			}
			return r.loss(t, c)
		}},
		MinBatch: 2,
	})
}

type step[C any] struct {
	row  *row[C]
	cfg  *C
	head *nn.MLP
	logZ *ts.Tensor // owned by the heads' store
}

// Forward projects both views as one BatchNorm batch of 2N and evaluates
// the row's loss on the projections.
func (m *step[C]) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	z := s.Together(m.head, "v1", "v2")
	z1, z2 := z[0], z[1]
	if m.row.raw == nil || !m.row.raw(m.cfg) {
		z1, z2 = s.T(nn.Normalize(z1)), s.T(nn.Normalize(z2))
	}
	lossMetrics(s, m.cfg)
	if m.logZ != nil {
		s.Metric("log_z", nn.Item(m.logZ))
	}
	if m.row.pair != nil {
		return m.row.pair(s.Scope, m.cfg, m.logZ, z1, z2)
	}
	return m.row.loss(method.Tensors{m.row.roles[0]: z1, m.row.roles[1]: z2}, m.cfg)
}

// lossMetrics reports the config's own numeric params (the loss's, not the
// embedded head's) for the logs.
func lossMetrics(s *methodkit.Step, cfg any) {
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		if name, ok := v.Type().Field(i).Tag.Lookup("param"); ok && v.Field(i).Kind() == reflect.Float64 {
			s.Metric(name, v.Field(i).Float())
		}
	}
}

// sameFloat checks that the roles share one float dtype.
func sameFloat(t method.Tensors, roles []string) error {
	dt := t[roles[0]].DType()
	for _, r := range roles {
		d := t[r].DType()
		if d != gotch.Float && d != gotch.Double {
			return fmt.Errorf("input %s is %v: want float32 or float64", r, d)
		}
		if d != dt {
			return fmt.Errorf("inputs of dtypes %v and %v: want one float dtype", dt, d)
		}
	}
	return nil
}
