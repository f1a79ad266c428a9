package methodkit

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Group is one set of trainable variables with its optimizer and, when a
// method keeps one, a frozen EMA copy (BYOL's target head, DINO's teacher).
// Its state is saved under "<name>/", "<name>_target/", "<name>_opt/" and
// the integer "<name>_opt_step"; the main group keeps the names "head/",
// "target/", "opt/" and "opt_step".
type Group struct {
	Name   string
	VS     *gnn.VarStore   // trainable variables
	Target *gnn.VarStore   // frozen EMA copy, or nil
	Opt    optim.Optimizer // nil when the group trains nothing
}

func (g *Group) prefix(part string) string {
	if g.Name == "" {
		return map[string]string{"vars": "head/", "target": "target/", "opt": "opt/", "step": "opt_step"}[part]
	}
	return map[string]string{"vars": g.Name + "/", "target": g.Name + "_target/", "opt": g.Name + "_opt/", "step": g.Name + "_opt_step"}[part]
}

// Heads is what a method built by the kit owns beside its layers: the
// feature shapes and device Setup gave, a seeded random source for
// initialisation, the variable groups with their optimizers and EMA copies,
// and the step counts. The kit saves, loads, zeroes, steps and frees all of
// it; a method's build function fills it.
type Heads struct {
	Name       string             // the method's id, for messages
	Dims       map[string][]int64 // per-sample shape of every tap key (SetupRequest.FeatureDims)
	Dim        int64              // the pooled feature size, 0 without a pooled tap
	Dev        gotch.Device       // where the variables live
	Rng        *rand.Rand         // seeded from SetupRequest.Seed: initialise heads from it
	Seed       int64              // SetupRequest.Seed, for randomness drawn per step (noise)
	Total      int64              // the run's planned steps (SetupRequest.TotalSteps)
	NumSamples int64              // the training set's size (SetupRequest.NumSamples)
	Steps      int64              // updates taken

	main   Group
	groups []*Group // main first
	// VS is the main group's store, where a method's heads usually live.
	VS *gnn.VarStore
}

func newHeads(name string, req method.SetupRequest) (*Heads, error) {
	dev, err := tensor.ParseDevice(req.Device)
	if err != nil {
		return nil, fmt.Errorf("%s setup: %w", name, err)
	}
	h := &Heads{Name: name, Dims: req.FeatureDims, Dev: dev, Rng: nn.NewRand(req.Seed), Seed: req.Seed, Total: req.TotalSteps, NumSamples: req.NumSamples}
	if d, ok := req.FeatureDims["pooled"]; ok {
		if len(d) != 1 || d[0] <= 0 {
			return nil, fmt.Errorf("%s setup: feature dims %v: want \"pooled\": [D], the trunk's embedding size", name, req.FeatureDims)
		}
		h.Dim = d[0]
	}
	h.main = Group{VS: gnn.NewVarStore(dev)}
	h.VS = h.main.VS
	h.groups = []*Group{&h.main}
	return h, nil
}

// Sub is a path under the main store (a head's variables: h.Sub("proj")).
func (h *Heads) Sub(name string) *gnn.Path { return h.VS.Root().Sub(name) }

// Adam sets the main group's optimizer: Adam at lr with L2 weight decay wd
// on every variable, the optimizer of most heads here.
func (h *Heads) Adam(lr, wd float64) error {
	return h.Optimize(optim.Config{Name: "adam", LR: lr, WeightDecay: wd}, true)
}

// Optimize sets the main group's optimizer from cfg; decayAll also decays
// biases and gains (otherwise they are exempt, as DINO's param groups).
func (h *Heads) Optimize(cfg optim.Config, decayAll bool) error {
	return h.main.optimize(cfg, decayAll)
}

func (g *Group) optimize(cfg optim.Config, decayAll bool) error {
	if g.Opt != nil {
		g.Opt.Close()
	}
	ps := optim.Params(g.VS)
	if decayAll {
		ps = optim.DecayAll(ps)
	}
	var err error
	g.Opt, err = optim.New(cfg, ps)
	return err
}

// Target is the main group's EMA copy, nil until EMATarget.
func (h *Heads) Target() *gnn.VarStore { return h.main.Target }

// Opt is the main group's optimizer.
func (h *Heads) Opt() optim.Optimizer { return h.main.Opt }

// EMATarget builds the main group's frozen EMA copy: build adds, under the
// path it is given, the same layers as the online heads it tracks (a
// subset: a predictor may have no copy); their values are then copied
// from the online store and frozen.
func (h *Heads) EMATarget(build func(*gnn.Path) error) error { return h.main.emaTarget(h.Dev, build) }

func (g *Group) emaTarget(dev gotch.Device, build func(*gnn.Path) error) error {
	if g.Target != nil {
		return fmt.Errorf("the heads under %q already have an EMA target; build it once", g.prefix("vars"))
	}
	g.Target = gnn.NewVarStore(dev)
	if err := build(g.Target.Root()); err != nil {
		return err
	}
	if err := nn.CopyVars(g.Target, g.VS); err != nil {
		return err
	}
	return nn.Freeze(g.Target)
}

// NewGroup adds a group of its own store, optimizer and optional EMA copy
// (DINO's last layer, which trains on its own schedule). build adds the
// online layers; target, when not nil, adds their EMA copy. The group's
// biases and gains get no weight decay (DINO's param groups).
func (h *Heads) NewGroup(name string, cfg optim.Config, build, target func(*gnn.Path) error) (*Group, error) {
	if name == "" || name == "head" || name == "target" || name == "opt" {
		return nil, fmt.Errorf("group name %q is reserved; pick another", name)
	}
	for _, o := range h.groups {
		if o.Name == name || strings.HasPrefix(name, o.Name+"_") || strings.HasPrefix(o.Name, name+"_") {
			return nil, fmt.Errorf("group name %q clashes with group %q (their state keys would overlap); pick another", name, o.Name)
		}
	}
	g := &Group{Name: name, VS: gnn.NewVarStore(h.Dev)}
	h.groups = append(h.groups, g)
	if err := build(g.VS.Root()); err != nil {
		return nil, err
	}
	if target != nil {
		if err := g.emaTarget(h.Dev, target); err != nil {
			return nil, err
		}
	}
	return g, g.optimize(cfg, false)
}

// EMA moves the target of every group that has one toward its online
// variables with momentum m (buffers stay the target's own, as MoCo's and
// BYOL's).
func (h *Heads) EMA(m float64) error {
	return h.EMAGroups(m, h.groups...)
}

// EMAGroups moves the targets of groups toward their online variables.
func (h *Heads) EMAGroups(m float64, groups ...*Group) error {
	for _, g := range groups {
		if g.Target == nil {
			continue
		}
		if err := nn.EMA(g.Target, g.VS, m, nn.KeepBuffers); err != nil {
			return fmt.Errorf("EMA of the heads under %q: %w", g.prefix("vars"), err)
		}
	}
	return nil
}

// Groups lists every group, the main one first.
func (h *Heads) Groups() []*Group { return h.groups }

// Params counts the trainable scalars of every group.
func (h *Heads) Params() int64 {
	var n int64
	for _, g := range h.groups {
		n += nn.NumParams(g.VS)
	}
	return n
}

func (h *Heads) zeroGrad() {
	for _, g := range h.groups {
		if g.Opt != nil {
			g.Opt.ZeroGrad()
		}
	}
}

// Update steps every group's optimizer and counts the step: what the kit
// does after backward on a training step unless the method implements
// Updater (which then calls Update, or UpdateGroups for some groups).
func (h *Heads) Update() error { return h.UpdateGroups(h.groups...) }

// UpdateGroups steps the optimizers of groups only (a frozen group skips
// its update, as the reference's p.grad = None does) and counts the step.
func (h *Heads) UpdateGroups(groups ...*Group) error {
	for _, g := range groups {
		if g.Opt == nil {
			continue
		}
		if err := g.Opt.Step(); err != nil {
			return fmt.Errorf("optimizer of the heads under %q: %w", g.prefix("vars"), err)
		}
	}
	h.Steps++
	return nil
}

// ready checks that every group with trainable variables has an optimizer.
func (h *Heads) ready() error {
	for _, g := range h.groups {
		if g.Opt == nil && nn.NumParams(g.VS) > 0 {
			return fmt.Errorf("the heads under %q have no optimizer; call Heads.Adam (or Optimize) in the build function", g.prefix("vars"))
		}
	}
	return nil
}

// save adds every group's variables, targets and optimizer state, and the
// counters, to st. The returned func frees the optimizer state after Encode.
func (h *Heads) save(st *State) (func(), error) {
	var owned []method.Tensors
	done := func() {
		for _, o := range owned {
			o.Drop()
		}
	}
	for _, g := range h.groups {
		st.AddVars(g.prefix("vars"), g.VS)
		if g.Target != nil {
			st.AddVars(g.prefix("target"), g.Target)
		}
		if g.Opt == nil {
			continue
		}
		ost, step, err := g.Opt.State()
		if err != nil {
			done()
			return nil, fmt.Errorf("optimizer state of the heads under %q: %w", g.prefix("vars"), err)
		}
		owned = append(owned, ost)
		st.AddTensors(g.prefix("opt"), ost)
		st.Ints[g.prefix("step")] = step
	}
	st.Ints["steps"] = h.Steps
	st.Ints["dim"] = h.Dim
	return done, nil
}

// load restores what save wrote. It checks the counters and every
// variable's name, shape and dtype before it changes anything.
func (h *Heads) load(st *State) error {
	d, err := st.Int("dim")
	if err != nil {
		return err
	}
	if d != h.Dim {
		return fmt.Errorf("state for features of dimension %d, set up for %d; set the method up as it was saved", d, h.Dim)
	}
	steps, err := st.Int("steps")
	if err != nil {
		return err
	}
	for _, g := range h.groups {
		err := st.CheckVars(g.prefix("vars"), g.VS)
		if err == nil && g.Target != nil {
			err = st.CheckVars(g.prefix("target"), g.Target)
		}
		if err == nil && g.Opt != nil {
			_, err = st.Int(g.prefix("step"))
		}
		if err != nil {
			return err
		}
	}
	for _, g := range h.groups {
		if err := st.LoadVars(g.prefix("vars"), g.VS); err != nil {
			return err
		}
		if g.Target != nil {
			if err := st.LoadVars(g.prefix("target"), g.Target); err != nil {
				return err
			}
		}
		if g.Opt == nil {
			continue
		}
		step, err := st.Int(g.prefix("step"))
		if err != nil {
			return err
		}
		if err := g.Opt.SetState(st.Prefixed(g.prefix("opt")), step); err != nil {
			return err
		}
	}
	h.Steps = steps
	return nil
}

// release frees every group's optimizer state and variables.
func (h *Heads) release() {
	if h == nil {
		return
	}
	for _, g := range h.groups {
		if g.Opt != nil {
			g.Opt.Close()
			g.Opt = nil
		}
		for _, vs := range []*gnn.VarStore{g.VS, g.Target} {
			if vs != nil {
				vs.Destroy()
			}
		}
		g.VS, g.Target = nil, nil
	}
	h.groups, h.VS = nil, nil
}

// StepsPerEpoch is the number of batches of n in an epoch of the training
// set (NumSamples/n, dropping the last partial batch as the host does), or
// 0 when the set's size is unknown or smaller than a batch.
func (h *Heads) StepsPerEpoch(n int64) int64 {
	if n <= 0 || h.NumSamples < n {
		return 0
	}
	return h.NumSamples / n
}

// Epoch is the (0-based) epoch of step for batches of n; 0 when
// StepsPerEpoch is.
func (h *Heads) Epoch(step, n int64) int64 {
	if per := h.StepsPerEpoch(n); per > 0 {
		return step / per
	}
	return 0
}
