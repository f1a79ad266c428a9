package recovery

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/selfsup/selfsup/sdk/method"
)

// Faulty is a fault injector: a method, made by a constructor, that dies
// as a killed plugin process would on the training steps listed in DieAt
// (StepRequest.Step values, each once). The step runs, then the method and
// all its state are gone and the call fails with an error that is
// method.ErrDied; every later call fails the same way until Restart makes
// a fresh method and replays the last Setup, as a plugin's restart does.
type Faulty struct {
	newMethod func() method.Method
	dieAt     map[int64]bool
	inner     method.Method // nil while dead
	spec      method.Spec   // the last inner's, for Spec while dead
	setup     *method.SetupRequest
	deaths    int
}

var (
	_ method.Method    = (*Faulty)(nil)
	_ method.Restarter = (*Faulty)(nil)
)

// NewFaulty wraps the methods newMethod makes so that they die at the
// training steps dieAt.
func NewFaulty(newMethod func() method.Method, dieAt ...int64) *Faulty {
	f := &Faulty{newMethod: newMethod, dieAt: map[int64]bool{}, inner: newMethod()}
	for _, s := range dieAt {
		f.dieAt[s] = true
	}
	return f
}

// Deaths is how many times the method died.
func (f *Faulty) Deaths() int { return f.deaths }

// DieAt makes the method die (again) at training step s.
func (f *Faulty) DieAt(s int64) { f.dieAt[s] = true }

func (f *Faulty) dead(call string) error {
	return fmt.Errorf("recovery.Faulty: %s on a dead method: %w", call, method.ErrDied)
}

// Spec is the wrapped method's (while dead, the one it had).
func (f *Faulty) Spec() method.Spec {
	if f.inner == nil {
		return f.spec
	}
	return f.inner.Spec()
}

func (f *Faulty) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if f.inner == nil {
		return method.SetupResponse{}, f.dead("Setup")
	}
	resp, err := f.inner.Setup(ctx, req)
	if err == nil {
		saved := req
		saved.FeatureDims = maps.Clone(req.FeatureDims)
		saved.Config = maps.Clone(req.Config)
		f.setup = &saved
	}
	return resp, err
}

func (f *Faulty) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if f.inner == nil {
		return method.LossOutput{}, f.dead("Loss")
	}
	return f.inner.Loss(ctx, in)
}

// Step runs the wrapped method's step and, on a training step listed in
// DieAt, then kills it.
func (f *Faulty) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if f.inner == nil {
		return method.StepResponse{}, f.dead("Step")
	}
	resp, err := f.inner.Step(ctx, req)
	if err != nil || !req.Train || !f.dieAt[req.Step] {
		return resp, err
	}
	resp.Grads.Drop() // the reply never arrives
	delete(f.dieAt, req.Step)
	f.deaths++
	f.spec = f.inner.Spec()
	f.inner.Close()
	f.inner = nil
	return method.StepResponse{}, fmt.Errorf("recovery.Faulty: killed during training step %d: %w", req.Step, method.ErrDied)
}

func (f *Faulty) Save(ctx context.Context) ([]byte, error) {
	if f.inner == nil {
		return nil, f.dead("Save")
	}
	return f.inner.Save(ctx)
}

func (f *Faulty) Load(ctx context.Context, state []byte) error {
	if f.inner == nil {
		return f.dead("Load")
	}
	return f.inner.Load(ctx, slices.Clone(state))
}

// Restart replaces the method, dead or alive, with a fresh one set up as
// the last Setup was.
func (f *Faulty) Restart(ctx context.Context) error {
	if f.inner != nil {
		f.inner.Close()
	}
	f.inner = f.newMethod()
	if f.setup == nil {
		return nil
	}
	if _, err := f.inner.Setup(ctx, *f.setup); err != nil {
		return fmt.Errorf("recovery.Faulty: replay Setup: %w", err)
	}
	return nil
}

func (f *Faulty) Close() error {
	if f.inner == nil {
		return nil
	}
	f.spec = f.inner.Spec()
	err := f.inner.Close()
	f.inner = nil
	return err
}
