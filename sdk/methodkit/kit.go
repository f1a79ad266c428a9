package methodkit

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Def describes a method to the kit: what differs from every other method
// and nothing else. C is the method's config struct (see Decode).
type Def[C any] struct {
	// Name is the method id; Summary one line for listings.
	Name, Summary string
	// Spec returns the views, taps, target and labels for a config (the
	// defaults before Setup, the set-up config after). The kit fills
	// Spec.Name and Spec.Defaults.
	Spec func(c *C) method.Spec
	// Build makes the method's heads under h (h.Sub, h.Rng, h.Dim) with
	// their optimizer (h.Adam) and returns the Stepper that runs a step.
	// It is called by every Setup. A nil Build makes a method that only
	// has a Loss (conformance cases, no training step); a loss-only method
	// that trains is Stateless.
	Build func(h *Heads, c *C) (Stepper, error)
	// Loss is the method's loss on the roles of its conformance cases, or
	// nil when it has none.
	Loss *Loss[C]
	// MinBatch is the smallest batch a step accepts (2 for losses with
	// in-batch negatives or batch statistics); 0 means 1.
	MinBatch int64
}

// Stepper is a set-up method's training step: the forward pass from the
// step's features to a scalar loss, made under s (s.T) or returned for
// the kit to free. The kit has already checked the features and made the
// leaves; after Forward it zeroes the heads' gradients, back-propagates,
// rejects a NaN loss, updates (Updater, or every group's optimizer) and
// calls AfterUpdate on training steps, and collects the feature gradients.
type Stepper interface {
	Forward(s *Step) (*ts.Tensor, error)
}

// Updater is a Stepper that makes its own update after backward (DINO:
// gradient clipping, scheduled lr, a frozen last layer). It calls
// s.Heads.Update or steps groups itself.
type Updater interface {
	Update(s *Step) error
}

// AfterUpdater is a Stepper with state that moves after the update on a
// training step (a queue, a memory bank, a centre, an EMA head).
type AfterUpdater interface {
	AfterUpdate(s *Step) error
}

// Stater is a Stepper with state beyond its heads' variables: SaveState
// adds it to the state (tensors it lends until the state is encoded, and
// integers; names the kit uses are refused), LoadState reads it back into
// a Stepper set up with the same config. LoadState must copy what it keeps:
// st's tensors are freed when it returns. The heads are loaded before
// LoadState runs, so LoadState should check everything before it changes
// anything.
type Stater interface {
	SaveState(st *State)
	LoadState(st *State) error
}

// Releaser is a Stepper with tensors of its own to free on Close.
type Releaser interface {
	Release()
}

// Method is a method.Method built from a Def.
type Method[C any] struct {
	def     Def[C]
	cfg     C
	heads   *Heads
	stepper Stepper
	spec    method.Spec // the set-up method's, for Step (no reflection per step)
}

// New returns a fresh method from def (set it up before Step; Loss works at
// once). It panics when C's tags are malformed: a programming error that
// every test of the method shows.
func New[C any](def Def[C]) *Method[C] {
	m := &Method[C]{def: def}
	if err := Decode(def.Name, nil, &m.cfg, true); err != nil {
		panic(fmt.Sprintf("methodkit.New(%s): %v", def.Name, err))
	}
	return m
}

// Constructor is the method.Constructor of def.
func Constructor[C any](def Def[C]) method.Constructor {
	return method.Constructor{Name: def.Name, Summary: def.Summary, New: func() method.Method { return New(def) }}
}

// Config is the method's configuration (the defaults before Setup).
func (m *Method[C]) Config() C { return m.cfg }

// Stepper is what Build returned (nil before Setup), for tests that look
// inside a method.
func (m *Method[C]) Stepper() Stepper { return m.stepper }

// Heads are the method's heads (nil before Setup).
func (m *Method[C]) Heads() *Heads { return m.heads }

// Spec implements method.Method.
func (m *Method[C]) Spec() method.Spec {
	var s method.Spec
	if m.def.Spec != nil {
		s = m.def.Spec(&m.cfg)
	}
	s.Name = m.def.Name
	var zero C
	docs, _ := Docs(zero) // checked by New
	s.Defaults, s.Docs = method.Params{}, map[string]string{}
	for _, d := range docs {
		s.Defaults[d.Name] = d.Default
		if d.Doc != "" {
			s.Docs[d.Name] = d.Doc
		}
	}
	return s
}

// Setup implements method.Method: the config decoded and checked, then
// Build on fresh heads.
func (m *Method[C]) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	var cfg C
	if err := Decode(m.def.Name, req.Config, &cfg, true); err != nil {
		return method.SetupResponse{}, err
	}
	if m.def.Build == nil {
		m.release()
		m.cfg = cfg
		return method.SetupResponse{}, nil
	}
	if m.def.Spec != nil { // check the request before releasing what a previous Setup built
		for _, tap := range m.def.Spec(&cfg).EffectiveTaps() {
			for _, k := range tap.Keys() {
				if _, ok := req.FeatureDims[k]; !ok {
					return method.SetupResponse{}, fmt.Errorf("%s setup: feature dims %v lack %q, a tap of the Spec", m.def.Name, req.FeatureDims, k)
				}
			}
		}
	}
	h, err := newHeads(m.def.Name, req)
	if err != nil {
		return method.SetupResponse{}, err
	}
	m.release()
	m.cfg = cfg
	var st Stepper
	tensor.Pinned(func() {
		if st, err = m.def.Build(h, &m.cfg); err == nil {
			err = h.ready()
		}
	})
	if err != nil {
		if r, ok := st.(Releaser); ok {
			r.Release()
		}
		h.release()
		return method.SetupResponse{}, fmt.Errorf("%s setup: %w", m.def.Name, err)
	}
	m.heads, m.stepper, m.spec = h, st, m.Spec()
	return method.SetupResponse{Parameters: h.Params()}, nil
}

// Loss implements method.Method with Def.Loss.
func (m *Method[C]) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	if m.def.Loss == nil {
		return method.LossOutput{}, fmt.Errorf("%s has no loss on conformance roles; test it through Step", m.def.Name)
	}
	return m.def.Loss.eval(m.def.Name, in)
}

// Step implements method.Method: the skeleton every method shares around
// its Stepper's Forward.
func (m *Method[C]) Step(ctx context.Context, req method.StepRequest) (resp method.StepResponse, err error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if m.def.Build == nil {
		return method.StepResponse{}, fmt.Errorf("%s has no training step (its Def has no Build); train a loss-only method with methodkit.NewStateless", m.def.Name)
	}
	if m.stepper == nil {
		return method.StepResponse{}, fmt.Errorf("%s step: method not set up; call Setup first", m.def.Name)
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	st, err := gather(m.def.Name, m.spec, m.heads, req, s)
	if err != nil {
		return method.StepResponse{}, err
	}
	if minN := max(m.def.MinBatch, 1); st.N < minN {
		return method.StepResponse{}, fmt.Errorf("%s step: a batch of %d; the method needs at least %d", m.def.Name, st.N, minN)
	}
	loss, err := m.stepper.Forward(st)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("%s step: %w", m.def.Name, err)
	}
	if loss == nil {
		return method.StepResponse{}, fmt.Errorf("%s step: Forward returned no loss", m.def.Name)
	}
	if !s.Owns(loss) {
		s.T(loss)
	}
	if n := loss.Numel(); n != 1 {
		return method.StepResponse{}, fmt.Errorf("%s step: Forward returned %d values, want a scalar loss", m.def.Name, n)
	}
	m.heads.zeroGrad()
	if err := loss.Backward(); err != nil {
		return method.StepResponse{}, fmt.Errorf("%s step: backward: %w", m.def.Name, err)
	}
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("%s step %d: loss is %v; lower the learning rate or check the features", m.def.Name, req.Step, value)
	}
	if req.Train {
		if u, ok := m.stepper.(Updater); ok {
			err = u.Update(st)
		} else {
			err = m.heads.Update()
		}
		if err != nil {
			return method.StepResponse{}, fmt.Errorf("%s step: update: %w", m.def.Name, err)
		}
		if a, ok := m.stepper.(AfterUpdater); ok {
			if err := a.AfterUpdate(st); err != nil {
				return method.StepResponse{}, fmt.Errorf("%s step: after the update: %w", m.def.Name, err)
			}
		}
	}
	grads, err := st.grads()
	if err != nil {
		return method.StepResponse{}, err
	}
	return method.StepResponse{Loss: value, Metrics: st.metrics, Grads: grads}, nil
}

// Save implements method.Method: every group's variables, EMA copies and
// optimizer state, the counters, and what a Stater adds.
func (m *Method[C]) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.def.Build == nil {
		return []byte{}, nil
	}
	if m.stepper == nil {
		return nil, fmt.Errorf("%s save: method not set up; call Setup first", m.def.Name)
	}
	st := NewState()
	done, err := m.heads.save(st)
	if err != nil {
		return nil, err
	}
	defer done()
	if sv, ok := m.stepper.(Stater); ok {
		own := NewState()
		sv.SaveState(own)
		for k, t := range own.Tensors {
			if _, dup := st.Tensors[k]; dup {
				return nil, fmt.Errorf("%s save: the method's state names tensor %q, which the kit saves itself; rename it", m.def.Name, k)
			}
			st.Tensors[k] = t
		}
		for k, v := range own.Ints {
			if _, dup := st.Ints[k]; dup {
				return nil, fmt.Errorf("%s save: the method's state names integer %q, which the kit saves itself; rename it", m.def.Name, k)
			}
			st.Ints[k] = v
		}
	}
	b, err := st.Encode()
	if err != nil {
		return nil, fmt.Errorf("%s save: %w", m.def.Name, err)
	}
	return b, nil
}

// Load implements method.Method: it restores what Save wrote into a method
// set up with the same config.
func (m *Method[C]) Load(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.def.Build == nil {
		if len(data) != 0 {
			return fmt.Errorf("%s has no state, got %d bytes", m.def.Name, len(data))
		}
		return nil
	}
	if m.stepper == nil {
		return errors.New(m.def.Name + " load: method not set up; call Setup with the saved config first")
	}
	st, err := DecodeState(data)
	if err != nil {
		return fmt.Errorf("%s load: %w", m.def.Name, err)
	}
	defer st.Drop()
	err = m.heads.load(st)
	if sv, ok := m.stepper.(Stater); ok && err == nil {
		err = sv.LoadState(st)
	}
	if err != nil {
		return fmt.Errorf("%s load: %w", m.def.Name, err)
	}
	return nil
}

// Close implements method.Method.
func (m *Method[C]) Close() error {
	m.release()
	return nil
}

func (m *Method[C]) release() {
	if r, ok := m.stepper.(Releaser); ok {
		r.Release()
	}
	m.heads.release()
	m.heads, m.stepper = nil, nil
}
