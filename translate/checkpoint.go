package translate

import (
	"context"
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
)

// ModelState is everything of a Model that is not one of its tensors: the
// optimizers' step counts, the flips' and patch positions' generator, and
// the PatchNCE method's own saved state (its MLPs and their Adam).
type ModelState struct {
	OptSteps map[string]int64 `json:"opt_steps"`
	RNG      []byte           `json:"rng"`
	Method   []byte           `json:"method"`
}

func (m *Model) stores() map[string]*gnn.VarStore {
	return map[string]*gnn.VarStore{"G": m.G.VS, "D": m.D.VS}
}

func (m *Model) optimizers() map[string]optim.Optimizer {
	return map[string]optim.Optimizer{"G": m.optG, "D": m.optD}
}

// Save returns the model's tensors ("G/<var>", "D/<var>", "opt.G/<slot>",
// "opt.D/<slot>") and its other state; release frees the optimizer copies
// (write the tensors before the next step).
func (m *Model) Save(ctx context.Context) (map[string]*ts.Tensor, ModelState, func(), error) {
	tensors, steps, release, err := optim.SaveNamed(m.optimizers())
	if err != nil {
		return nil, ModelState{}, nil, fmt.Errorf("translate: %w", err)
	}
	for name, vs := range m.stores() {
		for k, v := range vs.Variables() {
			v := v
			tensors[name+"/"+k] = &v
		}
	}
	st := ModelState{OptSteps: steps}
	if st.RNG, err = m.rngSrc.MarshalBinary(); err == nil {
		st.Method, err = m.nce.Save(ctx)
	}
	if err != nil {
		release()
		return nil, st, nil, fmt.Errorf("translate: save: %w", err)
	}
	return tensors, st, release, nil
}

// Load restores what Save returned into a model built with the same
// Config.
func (m *Model) Load(ctx context.Context, tensors map[string]*ts.Tensor, st ModelState) error {
	for name, vs := range m.stores() {
		for k, v := range vs.Variables() {
			v := v
			src, ok := tensors[name+"/"+k]
			if !ok {
				return fmt.Errorf("translate: the checkpoint has no %s/%s: it was written for another architecture", name, k)
			}
			if err := nn.CopyValues(&v, src, name+"/"+k); err != nil {
				return err
			}
		}
	}
	if err := optim.LoadNamed(m.optimizers(), tensors, st.OptSteps); err != nil {
		return fmt.Errorf("translate: %w", err)
	}
	if err := m.rngSrc.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("translate: restore the random stream: %w", err)
	}
	if err := m.nce.Load(ctx, st.Method); err != nil {
		return fmt.Errorf("translate: restore the PatchNCE method: %w", err)
	}
	return nil
}
