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
// ../shared/conformance/METHODS.md. Import the package to run the methods
// in process, or serve them with the plugin binary in
// cmd/selfsup-contrastive.
package contrastive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
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

// Constructors lists the family's methods (for plugin.Serve and the
// registry).
func Constructors() []method.Constructor {
	out := make([]method.Constructor, 0, len(defs))
	for _, name := range names() {
		d := defs[name]
		out = append(out, method.Constructor{Name: name, Summary: d.summary, New: func() method.Method { return New(name) }})
	}
	return out
}

// Constructor returns the constructor of one of the family's methods, or
// false when name is not one of them.
func Constructor(name string) (method.Constructor, bool) {
	for _, c := range Constructors() {
		if c.Name == name {
			return c, true
		}
	}
	return method.Constructor{}, false
}

// headDefaults are the projection head's and its optimizer's defaults, the
// same for every method of the family: SimCLR's Fashion-MNIST head and the
// Adam settings of the DCL and HCL reference code (lr 1e-3, weight decay
// 1e-6).
func headDefaults() method.Params {
	return method.Params{
		"proj_hidden":  int64(128),
		"proj_out":     int64(64),
		"lr":           1e-3,
		"weight_decay": 1e-6,
	}
}

// Defaults returns the default hyper-parameters of method name (its loss's
// and the head's), or nil for a name outside the family.
func Defaults(name string) method.Params {
	d, ok := defs[name]
	if !ok {
		return nil
	}
	p := headDefaults()
	maps.Copy(p, d.defaults())
	return p
}

// Feature keys of the two views' pooled tap.
var (
	key1 = method.FeatureKey("v1", "pooled", false)
	key2 = method.FeatureKey("v2", "pooled", false)
)

// Method is one method of the family. Its zero value is not usable; use New,
// then Setup (Loss works at once).
type Method struct {
	d      *def
	params method.Params // the merged config after Setup
	h      nn.Heads      // head variables, optimizer and counters
	head   *nn.MLP
	logZ   *ts.Tensor // nce: the learned log normaliser (owned by h.VS)
}

// New returns the family's method name, not yet set up. It panics on a name
// outside the family (use Constructors for the list).
func New(name string) *Method {
	d, ok := defs[name]
	if !ok {
		panic(fmt.Sprintf("contrastive: no method %q (have %v)", name, names()))
	}
	return &Method{d: d, params: Defaults(name), h: nn.Heads{Name: name}}
}

// Spec: two online views with the "simclr" recipe and the pooled tap, as
// the reference code of every method of the family trains.
func (m *Method) Spec() method.Spec {
	return method.Spec{
		Name: m.d.name,
		Views: []method.View{
			{Name: "v1", Recipe: "simclr", Online: true},
			{Name: "v2", Recipe: "simclr", Online: true},
		},
		Defaults: Defaults(m.d.name),
	}
}

// readConfig merges the defaults with overrides, rejecting unknown keys, and
// checks the result.
func (m *Method) readConfig(over method.Params) (method.Params, error) {
	p, err := methodkit.Params(m.d.name, Defaults(m.d.name), over)
	if err != nil {
		return nil, err
	}
	if err := m.d.check(p); err != nil {
		return nil, fmt.Errorf("%s: %w", m.d.name, err)
	}
	for _, k := range []string{"proj_hidden", "proj_out"} {
		if v, err := p.Int(k); err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: %s must be a positive integer (%v)", m.d.name, k, p[k])
		}
	}
	for _, k := range []string{"lr", "weight_decay"} {
		if v, err := p.Float(k); err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %s must be a non-negative number (%v)", m.d.name, k, p[k])
		}
	}
	return p, nil
}

// Setup builds the projection head for pooled features of FeatureDims
// ["pooled"] = [D] (and nce's log normaliser) with its Adam optimizer,
// initialised from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := m.readConfig(req.Config)
	if err != nil {
		return method.SetupResponse{}, fmt.Errorf("%w; fix the method config", err)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.params = p
	hidden, _ := p.Int("proj_hidden")
	out, _ := p.Int("proj_out")
	lr, _ := p.Float("lr")
	wd, _ := p.Float("weight_decay")
	rng := nn.NewRand(req.Seed)
	m.head, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, nn.Projector(m.h.Dim, hidden, out))
	if err == nil && m.d.logZ {
		var z *ts.Tensor
		if z, err = nn.Filled(0, m.h.Dev, 1); err == nil {
			m.logZ, err = nn.AddParam(m.h.VS.Root().Sub("nce"), "log_z", z)
		}
	}
	if err == nil {
		err = m.h.Finish(lr, wd, nil)
	}
	if err != nil {
		m.release()
		return method.SetupResponse{}, fmt.Errorf("%s setup: %w", m.d.name, err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates the method's loss on the roles of its METHODS.md section
// (or, for infonce and nce, of its doc comment), with the case's params over
// the method's defaults. It computes in the inputs' dtype.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	p := m.d.defaults()
	maps.Copy(p, in.Params)
	if err := m.d.check(p); err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", m.d.name, err)
	}
	defer nn.Autograd()()
	leaves, err := nn.NewLeaves(in, m.d.roles...)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", m.d.name, err)
	}
	defer leaves.Drop()
	roles := method.Tensors{}
	for _, r := range m.d.roles {
		roles[r] = leaves.T(r)
	}
	if err := sameFloat(roles); err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", m.d.name, err)
	}
	loss, err := m.d.loss(roles, p)
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", m.d.name, err)
	}
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := leaves.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("%s loss: %w", m.d.name, err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// sameFloat checks that the tensors share one float dtype.
func sameFloat(roles method.Tensors) error {
	var dt gotch.DType
	for i, r := range roles.Names() {
		d := roles[r].DType()
		if d != gotch.Float && d != gotch.Double {
			return fmt.Errorf("input %s is %v: want float32 or float64", r, d)
		}
		if i > 0 && d != dt {
			return fmt.Errorf("inputs of dtypes %v and %v: want one float dtype", dt, d)
		}
		dt = d
	}
	return nil
}

// Step projects both views' pooled features with one BatchNorm batch of 2N,
// normalises the projections where the method's reference does, evaluates
// the method's loss, updates the head when req.Train, and returns the
// gradient for both views' features.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	name := m.d.name
	if m.head == nil {
		return method.StepResponse{}, fmt.Errorf("%s step: method not set up; call Setup first", name)
	}
	f1, f2, err := methodkit.Pair(name, req, key1, key2, m.h.Dim)
	if err != nil {
		return method.StepResponse{}, err
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	l1, l2 := s.T(nn.Leaf(f1)), s.T(nn.Leaf(f2))
	z1, z2 := methodkit.ProjectTogether(s, m.head, req.Train, m.h.Dev, l1, l2)
	normalize, err := m.d.normalizes(m.params)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("%s step: %w", name, err)
	}
	if normalize {
		z1, z2 = s.T(nn.Normalize(z1)), s.T(nn.Normalize(z2))
	}
	loss, err := m.d.pair(s, m, z1, z2)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("%s step: %w", name, err)
	}
	s.T(loss)
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("%s step %d: loss is %v; lower the learning rate or check the features", name, req.Step, value)
	}
	metrics := m.metrics()
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	g, err := methodkit.Grads([]string{key1, key2}, []*ts.Tensor{l1, l2})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("%s step: %w", name, err)
	}
	return method.StepResponse{Loss: value, Metrics: metrics, Grads: g}, nil
}

// metrics are the method's numeric loss hyper-parameters, and nce's log
// normaliser, for the logs.
func (m *Method) metrics() map[string]float64 {
	out := map[string]float64{}
	for k := range m.d.defaults() {
		if v, err := m.params.Float(k); err == nil {
			out[k] = v
		}
	}
	if m.logZ != nil {
		out["log_z"] = nn.Item(m.logZ)
	}
	return out
}

// Save writes the head (with BatchNorm statistics and nce's log
// normaliser), the Adam moments and the step counts.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.head == nil {
		return nil, fmt.Errorf("%s save: method not set up; call Setup first", m.d.name)
	}
	return m.h.Save(nil)
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.head == nil {
		return errors.New(m.d.name + " load: method not set up; call Setup with the saved config first")
	}
	return m.h.Load(state, nil)
}

// Close frees the head and the optimizer state.
func (m *Method) Close() error {
	m.release()
	return nil
}

func (m *Method) release() {
	m.h.Release()
	m.head, m.logZ = nil, nil
}

// names lists the family's method ids, sorted.
func names() []string { return slices.Sorted(maps.Keys(defs)) }
