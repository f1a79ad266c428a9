package nn

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Heads is the plumbing a method with trainable heads keeps beside its
// layers: the variables with their Adam optimizer, an optional frozen EMA
// target of some of them, the pooled feature size and device, and the step
// counts. Save and Load write all of it as method state (see State), under
// "head/", "target/" and "opt/" and the integers "dim", "steps" and
// "opt_step".
type Heads struct {
	Name   string          // the method's id, for messages
	Dim    int64           // the pooled feature size Setup was given
	Dev    gotch.Device    // where the variables live
	VS     *gnn.VarStore   // trainable variables
	Target *gnn.VarStore   // frozen EMA copy, or nil
	Opt    optim.Optimizer // nil until Finish
	Steps  int64           // optimizer updates taken
	Total  int64           // the run's planned steps (SetupRequest.TotalSteps)
}

// Ready is an error until Finish has built the optimizer.
func (h *Heads) Ready() error {
	if h.Opt == nil {
		return fmt.Errorf("%s: method not set up; call Setup first", h.Name)
	}
	return nil
}

// Setup checks the request (FeatureDims["pooled"] = [D], the device),
// releases what a previous Setup made and prepares an empty store.
func (h *Heads) Setup(req method.SetupRequest) error {
	dims, ok := req.FeatureDims["pooled"]
	if !ok || len(dims) != 1 || dims[0] <= 0 {
		return fmt.Errorf("%s setup: feature dims %v: want \"pooled\": [D], the trunk's embedding size", h.Name, req.FeatureDims)
	}
	dev, err := tensor.ParseDevice(req.Device)
	if err != nil {
		return fmt.Errorf("%s setup: %w", h.Name, err)
	}
	h.Release()
	h.Dim, h.Dev, h.Steps, h.Total = dims[0], dev, 0, req.TotalSteps
	h.VS = gnn.NewVarStore(dev)
	return nil
}

// Finish builds the optimizer (Adam at lr with L2 weight decay wd on every
// variable of the store) and, when buildTarget is set, the frozen EMA target
// as a copy of the variables buildTarget adds under the target's own store.
func (h *Heads) Finish(lr, wd float64, buildTarget func(*gnn.VarStore) error) error {
	if buildTarget != nil {
		h.Target = gnn.NewVarStore(h.Dev)
		if err := buildTarget(h.Target); err != nil {
			return err
		}
		if err := CopyVars(h.Target, h.VS); err != nil {
			return err
		}
		if err := Freeze(h.Target); err != nil {
			return err
		}
	}
	var err error
	h.Opt, err = optim.New(optim.Config{Name: "adam", LR: lr, WeightDecay: wd}, optim.DecayAll(optim.Params(h.VS)))
	return err
}

// Update steps the optimizer (the caller zeroed the gradients before
// backward) and counts the step.
func (h *Heads) Update() error {
	if err := h.Opt.Step(); err != nil {
		return fmt.Errorf("%s step: %w", h.Name, err)
	}
	h.Steps++
	return nil
}

// Save writes variables, target, optimizer and counters, plus what extra
// adds, as method state bytes.
func (h *Heads) Save(extra func(*State)) ([]byte, error) {
	if err := h.Ready(); err != nil {
		return nil, err
	}
	st := NewState()
	st.AddVars("head/", h.VS)
	if h.Target != nil {
		st.AddVars("target/", h.Target)
	}
	ost, optStep, err := h.Opt.State()
	if err != nil {
		return nil, fmt.Errorf("%s save: optimizer state: %w", h.Name, err)
	}
	defer method.Tensors(ost).Drop()
	st.AddTensors("opt/", ost)
	st.Ints["opt_step"] = optStep
	st.Ints["steps"] = h.Steps
	st.Ints["dim"] = h.Dim
	if extra != nil {
		extra(st)
	}
	b, err := st.Encode()
	if err != nil {
		return nil, fmt.Errorf("%s save: %w", h.Name, err)
	}
	return b, nil
}

// Load restores what Save wrote into heads set up with the same config;
// extra reads what Save's extra added.
func (h *Heads) Load(data []byte, extra func(*State) error) error {
	if err := h.Ready(); err != nil {
		return errors.New(h.Name + " load: method not set up; call Setup with the saved config first")
	}
	st, err := DecodeState(data)
	if err != nil {
		return fmt.Errorf("%s load: %w", h.Name, err)
	}
	defer st.Drop()
	if d, err := st.Int("dim"); err != nil || d != h.Dim {
		return fmt.Errorf("%s load: state for features of dimension %d (%v), set up for %d", h.Name, d, err, h.Dim)
	}
	// check everything before changing anything
	steps, err1 := st.Int("steps")
	optStep, err2 := st.Int("opt_step")
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("%s load: %w", h.Name, err)
	}
	if err := st.LoadVars("head/", h.VS); err != nil {
		return fmt.Errorf("%s load: %w", h.Name, err)
	}
	if h.Target != nil {
		if err := st.LoadVars("target/", h.Target); err != nil {
			return fmt.Errorf("%s load: %w", h.Name, err)
		}
	}
	if err := h.Opt.SetState(st.Prefixed("opt/"), optStep); err != nil {
		return fmt.Errorf("%s load: %w", h.Name, err)
	}
	h.Steps = steps
	if extra != nil {
		if err := extra(st); err != nil {
			return fmt.Errorf("%s load: %w", h.Name, err)
		}
	}
	return nil
}

// Release frees the optimizer state and the variables.
func (h *Heads) Release() {
	if h.Opt != nil {
		h.Opt.Close()
		h.Opt = nil
	}
	for _, vs := range []*gnn.VarStore{h.VS, h.Target} {
		if vs != nil {
			vs.Destroy()
		}
	}
	h.VS, h.Target = nil, nil
}
