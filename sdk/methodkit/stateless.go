// Stateless turns a loss written as a function of role-named tensors into
// a complete method.Method with no parameters of its own (no heads, no
// queues): one function and a Spec, the shape of examples/thirdparty-plugin.

package methodkit

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
)

// LossFunc computes a scalar loss from role-named tensors and the method's
// params. It must build the loss from libtorch ops on the given tensors (so
// autograd can differentiate it) and must not free them.
type LossFunc func(roles method.Tensors, params method.Params) (*ts.Tensor, error)

// Stateless is a method without parameters or state of its own.
type Stateless struct {
	spec   method.Spec
	roles  []string          // loss roles, in order
	keys   map[string]string // role -> feature key
	loss   LossFunc
	params method.Params
}

// NewStateless makes a method from its Spec, the feature key each loss role
// reads in Step (e.g. {"z1": "v1/pooled", "z2": "v2/pooled"}), and its loss.
// Spec.Defaults are the params; SetupRequest.Config overrides them.
func NewStateless(spec method.Spec, roles map[string]string, loss LossFunc) *Stateless {
	s := &Stateless{spec: spec, keys: roles, loss: loss, params: method.Params{}}
	for r := range roles {
		s.roles = append(s.roles, r)
	}
	for k, v := range spec.Defaults {
		s.params[k] = v
	}
	return s
}

// Spec implements method.Method.
func (s *Stateless) Spec() method.Spec { return s.spec }

// Setup implements method.Method: it applies the configuration.
func (s *Stateless) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	for k, v := range req.Config {
		s.params[k] = v
	}
	return method.SetupResponse{}, nil
}

// Loss implements method.Method; the case's params override the method's.
func (s *Stateless) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	params := method.Params{}
	for k, v := range s.params {
		params[k] = v
	}
	for k, v := range in.Params {
		params[k] = v
	}
	loss, grads, err := s.eval(in, params)
	return method.LossOutput{Loss: loss, Grads: grads}, err
}

// Step implements method.Method: the features under their roles, through
// the loss.
func (s *Stateless) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	in := method.LossInput{Inputs: method.Tensors{}}
	for role, key := range s.keys {
		x, err := req.Features.Get(key)
		if err != nil {
			return method.StepResponse{}, fmt.Errorf("%s step: %w", s.spec.Name, err)
		}
		in.Inputs[role] = x
		if strings.HasSuffix(key, "@target") {
			in.Detached = append(in.Detached, role)
		}
	}
	loss, byRole, err := s.eval(in, s.params)
	if err != nil {
		return method.StepResponse{}, err
	}
	grads := method.Tensors{}
	for role, g := range byRole {
		grads[s.keys[role]] = g
	}
	return method.StepResponse{Loss: loss, Grads: grads}, nil
}

func (s *Stateless) eval(in method.LossInput, params method.Params) (float64, method.Tensors, error) {
	restore := nn.Autograd()
	defer restore()
	leaves, err := NewLeaves(in, s.roles...)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", s.spec.Name, err)
	}
	defer leaves.Drop()
	roles := method.Tensors{}
	for _, r := range s.roles {
		roles[r] = leaves.T(r)
	}
	l, err := s.loss(roles, params)
	if err != nil {
		return 0, nil, fmt.Errorf("%s loss: %w", s.spec.Name, err)
	}
	defer l.MustDrop()
	v := l.Float64Values()[0]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, nil, fmt.Errorf("%s: loss is %v", s.spec.Name, v)
	}
	if err := l.Backward(); err != nil {
		return 0, nil, fmt.Errorf("%s backward: %w", s.spec.Name, err)
	}
	grads, err := leaves.Grads()
	return v, grads, err
}

// Save implements method.Method (no state).
func (s *Stateless) Save(ctx context.Context) ([]byte, error) { return []byte{}, nil }

// Load implements method.Method (no state).
func (s *Stateless) Load(ctx context.Context, state []byte) error {
	if len(state) != 0 {
		return fmt.Errorf("%s has no state, got %d bytes", s.spec.Name, len(state))
	}
	return nil
}

// Close implements method.Method.
func (s *Stateless) Close() error { return nil }
