package train

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// checkpointVersion changes when the layout below does.
const checkpointVersion = 1

// state is the JSON part of a checkpoint ("selfsup" metadata key).
type state struct {
	Version     int           `json:"version"`
	Method      string        `json:"method"`
	Encoder     string        `json:"encoder"`
	InChannels  int           `json:"in_channels"`
	Step        int64         `json:"step"`
	TotalSteps  int64         `json:"total_steps"`
	Position    data.Position `json:"position"`
	OptimSteps  int64         `json:"optim_steps"`
	MethodState string        `json:"method_state"` // base64 of Method.Save
	Config      Config        `json:"config"`
}

// Save writes a checkpoint of everything a run needs to continue exactly:
// trunk and target weights and buffers, optimizer state, method state, data
// position and step. The file is a safetensors file (the trunk's tensors
// under "trunk/"), written atomically.
func (t *Trainer) Save(ctx context.Context, path string) error {
	var err error
	tensor.Pinned(func() { err = t.save(ctx, path) })
	return err
}

func (t *Trainer) save(ctx context.Context, path string) error {
	tensors, owned, st, err := t.capture(ctx)
	if err != nil {
		return err
	}
	defer dropAll(owned)
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := safetensors.WriteFile(path, tensors, map[string]string{"format": "pt", "selfsup": string(js)}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// capture gathers the run's state: its tensors by checkpoint name (the
// trunk's and target's live variables, aliased, and copies of the
// optimizer's state, which the caller frees: owned) and the rest.
func (t *Trainer) capture(ctx context.Context) (tensors, owned map[string]*ts.Tensor, st state, err error) {
	tensors = map[string]*ts.Tensor{}
	addVars("trunk/", t.trunk.VarStore(), tensors)
	if t.target != nil {
		addVars("target/", t.target.VarStore(), tensors)
	}
	ost, osteps, err := t.opt.State()
	if err != nil {
		return nil, nil, st, fmt.Errorf("checkpoint: optimizer state: %w", err)
	}
	owned = map[string]*ts.Tensor{}
	for k, v := range ost {
		tensors["optim/"+k] = v
		owned["optim/"+k] = v
	}
	ms, err := t.m.Save(ctx)
	if err != nil {
		dropAll(owned)
		return nil, nil, st, fmt.Errorf("checkpoint: method %s state: %w", t.spec.Name, err)
	}
	st = state{
		Version: checkpointVersion, Method: t.spec.Name, Encoder: t.trunk.Name(), InChannels: t.ds.C,
		Step: t.step, TotalSteps: t.total, Position: t.sampler.Position(), OptimSteps: osteps,
		MethodState: base64.StdEncoding.EncodeToString(ms), Config: t.cfg,
	}
	return tensors, owned, st, nil
}

// addVars adds a VarStore's variables (parameters and buffers) under prefix.
// The map holds aliases of the live tensors; they are not to be freed.
func addVars(prefix string, vs *nn.VarStore, out map[string]*ts.Tensor) {
	for name, v := range vs.Variables() {
		x := v
		out[prefix+name] = &x
	}
}

// Resume loads a checkpoint written by Save into this trainer, which must
// have been built with the same method, encoder and data.
func (t *Trainer) Resume(ctx context.Context, path string) error {
	var err error
	tensor.Pinned(func() { err = t.resume(ctx, path) })
	return err
}

// readCheckpoint reads a checkpoint's tensors (the caller drops them, with
// dropAll) and its state.
func readCheckpoint(path string) (map[string]*ts.Tensor, state, error) {
	tensors, meta, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, state{}, err
	}
	st, err := readState(meta)
	if err != nil {
		dropAll(tensors)
		return nil, state{}, fmt.Errorf("%s: %w", path, err)
	}
	return tensors, st, nil
}

func dropAll(tensors map[string]*ts.Tensor) {
	for _, x := range tensors {
		x.MustDrop()
	}
}

func (t *Trainer) resume(ctx context.Context, path string) error {
	tensors, st, err := readCheckpoint(path)
	if err != nil {
		return err
	}
	defer dropAll(tensors)
	if st.Method != t.spec.Name || st.Encoder != t.trunk.Name() {
		return fmt.Errorf("%s: a checkpoint of %s on %s, not %s on %s", path, st.Method, st.Encoder, t.spec.Name, t.trunk.Name())
	}
	if err := t.restore(ctx, tensors, st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// restore puts the run back to captured state: weights and buffers,
// optimizer, method state, data position and step. It copies the tensors.
func (t *Trainer) restore(ctx context.Context, tensors map[string]*ts.Tensor, st state) error {
	if err := loadVars("trunk/", t.trunk.VarStore(), tensors); err != nil {
		return err
	}
	if t.target != nil {
		if err := loadVars("target/", t.target.VarStore(), tensors); err != nil {
			return err
		}
	}
	ost := map[string]*ts.Tensor{}
	for k, v := range tensors {
		if rest, ok := strings.CutPrefix(k, "optim/"); ok {
			ost[rest] = v
		}
	}
	if err := t.opt.SetState(ost, st.OptimSteps); err != nil {
		return err
	}
	ms, err := base64.StdEncoding.DecodeString(st.MethodState)
	if err != nil {
		return fmt.Errorf("method state: %w", err)
	}
	if err := t.m.Load(ctx, ms); err != nil {
		return fmt.Errorf("method %s state: %w", t.spec.Name, err)
	}
	if err := t.sampler.Seek(st.Position); err != nil {
		return err
	}
	t.step = st.Step
	return nil
}

func readState(meta map[string]string) (state, error) {
	var st state
	js, ok := meta["selfsup"]
	if !ok {
		return st, fmt.Errorf("not a selfsup checkpoint (no selfsup metadata): an exported trunk? pass the checkpoint written by pretrain")
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return st, fmt.Errorf("checkpoint metadata: %w", err)
	}
	if st.Version != checkpointVersion {
		return st, fmt.Errorf("checkpoint version %d, this selfsup reads %d", st.Version, checkpointVersion)
	}
	return st, nil
}

// loadVars copies the tensors under prefix into the VarStore's variables;
// every variable must be present with its shape.
func loadVars(prefix string, vs *nn.VarStore, tensors map[string]*ts.Tensor) error {
	vars := vs.Variables()
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var err error
	tensor.NoGrad(func() {
		for _, n := range names {
			src, ok := tensors[prefix+n]
			if !ok {
				err = fmt.Errorf("checkpoint lacks %s%s", prefix, n)
				return
			}
			dst := vars[n]
			if fmt.Sprint(dst.MustSize()) != fmt.Sprint(src.MustSize()) {
				err = fmt.Errorf("%s%s has shape %v, the model %v", prefix, n, src.MustSize(), dst.MustSize())
				return
			}
			d := &dst
			d.Copy_(src)
		}
	})
	return err
}

// Checkpoint is what LoadTrunk reads from a checkpoint besides the trunk.
type Checkpoint struct {
	Method     string
	Encoder    string
	InChannels int
	Step       int64
	TotalSteps int64
	Config     Config
}

// LoadTrunk builds the trunk a checkpoint holds (architecture and input
// channels from its metadata) on dev and loads its weights and buffers.
func LoadTrunk(path string, dev gotch.Device) (encoder.Encoder, Checkpoint, error) {
	var (
		enc encoder.Encoder
		ck  Checkpoint
		err error
	)
	tensor.Pinned(func() {
		tensors, st, rerr := readCheckpoint(path)
		if err = rerr; err != nil {
			return
		}
		defer dropAll(tensors)
		ck = Checkpoint{Method: st.Method, Encoder: st.Encoder, InChannels: st.InChannels, Step: st.Step, TotalSteps: st.TotalSteps, Config: st.Config}
		if enc, err = encoder.New(st.Encoder, int64(st.InChannels), dev); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
			return
		}
		if err = loadVars("trunk/", enc.VarStore(), tensors); err != nil {
			err = fmt.Errorf("%s: %w", path, err)
		}
	})
	return enc, ck, err
}
