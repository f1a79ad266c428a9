package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/recovery"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Trainer pre-trains a trunk with one method. It is driven only by the
// method's Spec. A Trainer is for one goroutine, and that goroutine must be
// pinned to its OS thread while it uses the Trainer (Run does this).
type Trainer struct {
	cfg     Config
	spec    method.Spec
	ds      *data.Dataset
	dev     gotch.Device
	trunk   encoder.Encoder
	target  encoder.Encoder // nil without Spec.Target
	m       method.Method
	aug     *augment.Pipeline
	opt     optim.Optimizer
	params  []*ts.Tensor // the trunk's, as the optimizer updates them
	sched   optim.Schedule
	wdSched optim.CosineSchedule // with Config.WeightDecayEnd
	sampler *data.Sampler
	log     zerolog.Logger
	guard   *recovery.Guard

	total   int64 // planned steps
	perEp   int   // steps per epoch
	step    int64 // steps done
	pix     []uint8
	labels  []int
	history []Record
}

// Options are what a Trainer is built from besides its Config.
type Options struct {
	// Data is the training set.
	Data *data.Dataset
	// Method is the objective, in process or a plugin; New sets it up.
	Method method.Method
	// Recipes override built-in augmentation recipes by name.
	Recipes map[string]augment.Recipe
	// Log receives progress and diagnostics.
	Log zerolog.Logger
}

// Record is one line of metrics.jsonl.
type Record struct {
	Step     int64              `json:"step"`
	Epoch    float64            `json:"epoch"`
	Loss     float64            `json:"loss"`
	LR       float64            `json:"lr"`
	Momentum float64            `json:"momentum,omitempty"`
	StepSec  float64            `json:"step_s"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
}

// New builds the trunk, its EMA target, the augmentation pipeline and the
// optimizer from cfg and the method's Spec, and sets the method up.
func New(ctx context.Context, cfg Config, o Options) (*Trainer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Data == nil || o.Data.Len() == 0 {
		return nil, errors.New("train: no training data")
	}
	if o.Method == nil {
		return nil, errors.New("train: no method")
	}
	spec := o.Method.Spec()
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("train: method %s: %w", spec.Name, err)
	}
	dev, err := tensor.ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, spec: spec, ds: o.Data, dev: dev, m: o.Method, log: o.Log}
	tensor.Pinned(func() { err = t.build(ctx, o) })
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Trainer) build(ctx context.Context, o Options) error {
	cfg := t.cfg
	backend.ManualSeed(cfg.Seed)
	var err error
	if t.trunk, err = encoder.New(cfg.Encoder, int64(t.ds.C), t.dev); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if cfg.Init != "" {
		if err := t.loadInit(); err != nil {
			return err
		}
	}
	if t.ds.H != t.ds.W {
		return fmt.Errorf("train: images of %dx%d; square images only (resize the folder on load)", t.ds.H, t.ds.W)
	}
	t.sampler, err = data.NewSampler(t.ds.Len(), data.SamplerOptions{BatchSize: cfg.BatchSize, DropLast: true, Shuffle: true, Seed: cfg.Seed})
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.perEp = t.sampler.BatchesPerEpoch()
	t.total = cfg.totalSteps(t.perEp)
	if t.total <= 0 {
		return fmt.Errorf("train: %v epochs of %d steps is no training", cfg.Epochs, t.perEp)
	}
	dims, err := t.featureDims()
	if err != nil {
		return err
	}
	if _, err := t.m.Setup(ctx, method.SetupRequest{
		FeatureDims: dims, Config: cfg.Method, NumSamples: int64(t.ds.Len()),
		TotalSteps: t.total, Device: tensor.DeviceName(t.dev), Seed: int64(cfg.Seed),
	}); err != nil {
		return fmt.Errorf("train: set up method %s: %w", t.spec.Name, err)
	}
	// The configuration may change the Spec (a momentum, a view's size):
	// build the pipeline from the Spec of the method as set up.
	t.spec = t.m.Spec()
	if err := t.spec.Validate(); err != nil {
		return fmt.Errorf("train: method %s after setup: %w", t.spec.Name, err)
	}
	if n := t.spec.BatchNormSplits; n > 1 {
		sp, ok := t.trunk.(encoder.BatchNormSplitter)
		if !ok {
			return fmt.Errorf("train: method %s wants BatchNorm over %d splits, which %s cannot do", t.spec.Name, n, cfg.Encoder)
		}
		if cfg.BatchSize%n != 0 {
			return fmt.Errorf("train: method %s normalises over %d BatchNorm splits: pick a batch size that %d divides, not %d", t.spec.Name, n, n, cfg.BatchSize)
		}
		sp.SetBatchNormSplits(n) // the target, a copy, splits too
	}
	if t.spec.Target != nil {
		if t.target, err = t.trunk.Copy(); err != nil {
			return fmt.Errorf("train: EMA target of %s: %w", cfg.Encoder, err)
		}
	}
	if t.aug, err = augment.FromSpec(t.spec, augment.SpecOptions{Size: t.ds.H, Channels: t.ds.C, Recipes: o.Recipes}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	t.sched = optim.Schedule{Base: cfg.Optimizer.LR, Warmup: int64(cfg.WarmupEpochs * float64(t.perEp)), Total: t.total, Cosine: cfg.Cosine, Final: cfg.MinLR / cfg.Optimizer.LR}
	t.wdSched = optim.CosineSchedule{Start: cfg.Optimizer.WeightDecay, End: cfg.WeightDecayEnd, Total: t.total}
	params := optim.Params(t.trunk.VarStore())
	if t.opt, err = optim.New(cfg.Optimizer, params); err != nil {
		return fmt.Errorf("train: trunk optimizer: %w", err)
	}
	t.params = optim.Tensors(params)
	t.guard = recovery.New(t.m, t, recovery.Options{
		Every: cfg.SnapshotEvery, MaxRestarts: cfg.MaxRestarts, Log: t.log,
		Resume: fmt.Sprintf("resume from the last checkpoint (selfsup pretrain --resume, or Trainer.Resume of %s)", CheckpointFile),
	})
	return nil
}

// featureDims gives the method the per-sample shape of every tap.
func (t *Trainer) featureDims() (map[string][]int64, error) {
	dims := map[string][]int64{}
	layers := map[string]encoder.Layer{}
	for _, l := range t.trunk.Layers() {
		layers[l.Name] = l
	}
	for _, tap := range t.spec.EffectiveTaps() {
		switch tap.Kind {
		case method.Pooled:
			dims[tap.Name] = []int64{t.trunk.Dim()}
		case method.Layer, method.Patches:
			for _, name := range tap.Layers {
				l, ok := layers[name]
				if !ok {
					return nil, fmt.Errorf("train: method %s taps layer %q, which %s lacks", t.spec.Name, name, t.trunk.Name())
				}
				key := tap.Name + "." + name
				if tap.Kind == method.Patches {
					dims[key] = []int64{l.Channels}
				} else {
					side := (int64(t.ds.H) + l.Stride - 1) / l.Stride
					dims[key] = []int64{l.Channels, side, side}
				}
			}
		}
	}
	return dims, nil
}

// TotalSteps is the planned length of the run.
func (t *Trainer) TotalSteps() int64 { return t.total }

// StepsDone is the number of steps trained so far.
func (t *Trainer) StepsDone() int64 { return t.step }

// Trunk is the encoder being trained.
func (t *Trainer) Trunk() encoder.Encoder { return t.trunk }

// History returns the metric records of this process's steps.
func (t *Trainer) History() []Record { return t.history }

// Restarts is how many times the method's process died and was restarted
// with an exact recovery (see Config.SnapshotEvery).
func (t *Trainer) Restarts() int {
	if t.guard == nil {
		return 0
	}
	return t.guard.Restarts()
}

// Close frees the trunk, the target, the optimizer state and the method.
func (t *Trainer) Close() error {
	if t.opt != nil {
		t.opt.Close()
	}
	if t.guard != nil {
		t.guard.Close()
	}
	var err error
	if t.m != nil {
		err = t.m.Close()
	}
	return err
}

// Step trains one batch and returns its record. Pin the calling goroutine to
// its OS thread (tensor.Pinned) around Step.
//
// A method in a plugin process that dies is recovered exactly: Step
// restarts it, restores the last in-memory snapshot (every
// Config.SnapshotEvery steps) of trunk, target, optimizer, method state and
// sampler, replays the steps since and takes this one again. When that is
// impossible it returns a *recovery.LostError and the run must resume
// from a checkpoint.
func (t *Trainer) Step(ctx context.Context) (Record, error) {
	var rec Record
	err := t.guard.Step(ctx, func(ctx context.Context) error {
		var err error
		rec, err = t.step1(ctx)
		return err
	})
	return rec, err
}

// step1 trains one batch, without recovery.
func (t *Trainer) step1(ctx context.Context) (Record, error) {
	start := time.Now()
	b := t.sampler.Next()
	var err error
	t.pix, t.labels, err = t.ds.Batch(b.Indices, t.pix[:0], t.labels[:0])
	if err != nil {
		return Record{}, err
	}
	s := tensor.NewScope()
	defer s.Close()
	// Each step reseeds libtorch from (seed, step), so a resumed run draws
	// exactly what an uninterrupted one would.
	backend.ManualSeed(t.cfg.Seed*1_000_003 + uint64(t.step))
	imgs8, err := tensor.FromUint8(t.pix, int64(len(b.Indices)), int64(t.ds.C), int64(t.ds.H), int64(t.ds.W))
	if err != nil {
		return Record{}, err
	}
	s.T(imgs8)
	imgs := imgs8
	if t.dev.IsCuda() {
		imgs = s.T(imgs8.MustTo(t.dev, false))
	}
	views, err := t.aug.Augment(ctx, augment.Request{Images: imgs, Seed: t.cfg.Seed, Step: uint64(t.step)})
	if err != nil {
		return Record{}, fmt.Errorf("train: augment: %w", err)
	}
	defer views.Drop()

	req := method.StepRequest{Step: t.step, Train: true, Features: method.Tensors{}, Labels: method.Tensors{}}
	online := method.Tensors{} // features with their trunk graph, by key
	momentum := 0.0
	if t.spec.Target != nil {
		momentum = t.spec.Target.MomentumAt(t.step, t.total)
	}
	patchIdx := t.patchIndices(len(b.Indices))
	var onViews, tgViews []augment.View
	for _, v := range t.spec.Views {
		view, ok := views.View(v.Name)
		if !ok {
			return Record{}, fmt.Errorf("train: augmenter made no view %q", v.Name)
		}
		for name, l := range view.Labels {
			req.Labels[v.Name+"/"+name] = l
		}
		if slices.Contains(t.spec.PseudoLabels, "boxes") && view.Boxes != nil {
			req.Labels[v.Name+"/boxes"] = view.Boxes // float32 [N, 4] crop boxes (PixPro)
		}
		if v.Online {
			onViews = append(onViews, view)
		}
		if v.Target {
			tgViews = append(tgViews, view)
		}
	}
	onFeats, err := t.pass(s, t.trunk, onViews, false)
	if err != nil {
		return Record{}, err
	}
	for i, view := range onViews {
		if err := t.tap(s, view.Name, false, view.Grid, onFeats[i], patchIdx, online, req.Features); err != nil {
			return Record{}, err
		}
	}
	if len(tgViews) > 0 {
		var tgFeats []method.Tensors
		tensor.NoGrad(func() { tgFeats, err = t.pass(s, t.target, tgViews, true) })
		if err != nil {
			return Record{}, err
		}
		for i, view := range tgViews {
			if err := t.tap(s, view.Name, true, view.Grid, tgFeats[i], patchIdx, nil, req.Features); err != nil {
				return Record{}, err
			}
		}
	}
	if t.spec.SampleIDs {
		ids := make([]int64, len(b.Indices))
		for i, j := range b.Indices {
			ids[i] = int64(j)
		}
		req.SampleIDs = s.T(must(tensor.FromInt64(ids, int64(len(ids)))))
	}
	resp, err := t.m.Step(ctx, req)
	if err != nil {
		return Record{}, fmt.Errorf("train: method %s step %d: %w", t.spec.Name, t.step, err)
	}
	defer resp.Grads.Drop()
	if math.IsNaN(resp.Loss) || math.IsInf(resp.Loss, 0) {
		return Record{}, fmt.Errorf("train: method %s returned loss %v at step %d: lower the learning rate or check the data", t.spec.Name, resp.Loss, t.step)
	}

	// Back-propagate the method's feature gradients into the trunk:
	// d/dθ Σ_k <f_k(θ), g_k> = Σ_k J_kᵀ g_k.
	lr := t.sched.At(t.step)
	t.opt.SetLR(lr)
	metrics := resp.Metrics
	if t.cfg.WeightDecayEnd != 0 { // a function of the step only, so resuming is exact
		wd := t.wdSched.At(t.step)
		t.opt.SetWeightDecay(wd)
		metrics = addMetric(metrics, "trunk_wd", wd)
	}
	t.opt.ZeroGrad()
	var surrogate *ts.Tensor
	for key, f := range online {
		g, ok := resp.Grads[key]
		if !ok {
			return Record{}, fmt.Errorf("train: method %s returned no gradient for feature %q", t.spec.Name, key)
		}
		if g.DType() != f.DType() {
			g = s.T(g.MustTotype(f.DType(), false))
		}
		term := s.T(s.T(f.MustMul(g, false)).MustSum(f.DType(), false))
		if surrogate == nil {
			surrogate = term
		} else {
			surrogate = s.T(surrogate.MustAdd(term, false))
		}
	}
	if surrogate != nil {
		if err := surrogate.Backward(); err != nil {
			return Record{}, fmt.Errorf("train: backward: %w", err)
		}
		if t.cfg.ClipGrad > 0 {
			norms, err := optim.ClipPerParam(t.params, t.cfg.ClipGrad)
			if err != nil {
				return Record{}, fmt.Errorf("train: clip gradients: %w", err)
			}
			metrics = addMetric(metrics, "trunk_grad_norm_max", optim.MaxNorm(norms))
		}
		if err := t.opt.Step(); err != nil {
			return Record{}, fmt.Errorf("train: optimizer: %w", err)
		}
	}
	// A target at momentum 1 is frozen: not even its BatchNorm statistics
	// follow the trunk's (a frozen teacher keeps its own).
	if t.target != nil && momentum != 1 {
		if err := encoder.EMAUpdate(t.target, t.trunk, momentum); err != nil {
			return Record{}, fmt.Errorf("train: EMA target: %w", err)
		}
	}
	t.step++
	rec := Record{
		Step: t.step, Epoch: float64(t.step) / float64(t.perEp), Loss: resp.Loss, LR: lr,
		Momentum: momentum, StepSec: time.Since(start).Seconds(), Metrics: metrics,
	}
	t.history = append(t.history, rec)
	return rec, nil
}

// addMetric returns a copy of m (the method's, which the trainer does not
// change) with name set to v.
func addMetric(m map[string]float64, name string, v float64) map[string]float64 {
	out := make(map[string]float64, len(m)+1)
	maps.Copy(out, m)
	out[name] = v
	return out
}

// pass runs views through enc (the trunk, or the target when target is
// set) as the Spec says: each on its own, or views of equal shape as one
// batch (method.Together), the target's batch shuffled and unshuffled
// around its pass (Target.Shuffle). It returns each view's features; they
// belong to s.
func (t *Trainer) pass(s *tensor.Scope, enc encoder.Encoder, views []augment.View, target bool) ([]method.Tensors, error) {
	out := make([]method.Tensors, len(views))
	train := !target || !t.spec.Target.Inference
	for _, group := range t.groups(views) {
		var names []string
		imgs := make([]*ts.Tensor, len(group))
		for k, i := range group {
			names = append(names, views[i].Name)
			imgs[k] = views[i].Images
		}
		x := imgs[0]
		if len(imgs) > 1 {
			x = s.T(ts.MustCat(imgs, 0))
		}
		var inv *ts.Tensor
		if target && t.spec.Target.Shuffle {
			n := x.MustSize()[0]
			// A stream of its own: the patch positions stay as they were.
			g := newStepRand(t.cfg.Seed^0x5bd1e995, uint64(t.step)).r.Perm(int(n))
			perm, back := make([]int64, n), make([]int64, n)
			for j, p := range g {
				perm[j] = int64(p)
				back[p] = int64(j)
			}
			pt := s.T(must(tensor.FromInt64(perm, n)))
			inv = s.T(must(tensor.FromInt64(back, n)))
			if t.dev.IsCuda() {
				pt, inv = s.T(pt.MustTo(t.dev, false)), s.T(inv.MustTo(t.dev, false))
			}
			x = s.T(x.MustIndexSelect(0, pt, false))
		}
		feats, err := enc.Forward(x, train, t.layersWanted()...)
		if err != nil {
			what := "trunk"
			if target {
				what = "target"
			}
			return nil, fmt.Errorf("train: %s on view %s: %w", what, strings.Join(names, "+"), err)
		}
		for k, f := range feats {
			s.T(f)
			if inv != nil {
				feats[k] = s.T(f.MustIndexSelect(0, inv, false))
			}
		}
		if len(group) == 1 {
			out[group[0]] = feats
			continue
		}
		var off int64
		for k, i := range group {
			n := imgs[k].MustSize()[0]
			out[i] = method.Tensors{}
			for key, f := range feats {
				out[i][key] = s.T(f.MustNarrow(0, off, n, false))
			}
			off += n
		}
	}
	return out, nil
}

// groups are the passes of views through a trunk, as indices into views:
// one per view, or with method.Together one per image shape, in order of
// first appearance (views cut into a grid always go alone).
func (t *Trainer) groups(views []augment.View) [][]int {
	var out [][]int
	shapes := map[string]int{} // shape -> index in out
	for i, v := range views {
		if t.spec.Pass != method.Together || v.Grid > 0 {
			out = append(out, []int{i})
			continue
		}
		key := fmt.Sprint(v.Images.MustSize()[1:])
		if g, ok := shapes[key]; ok {
			out[g] = append(out[g], i)
			continue
		}
		shapes[key] = len(out)
		out = append(out, []int{i})
	}
	return out
}

// layersWanted are the trunk layers the Spec's taps read.
func (t *Trainer) layersWanted() []string {
	var out []string
	for _, tap := range t.spec.EffectiveTaps() {
		out = append(out, tap.Layers...)
	}
	return out
}

// patchIndices draws, per patch tap layer, the flat positions sampled in
// every image this step — the same for every view, as PatchNCE needs.
func (t *Trainer) patchIndices(n int) map[string][]int64 {
	out := map[string][]int64{}
	g := newStepRand(t.cfg.Seed, uint64(t.step))
	for _, tap := range t.spec.EffectiveTaps() {
		if tap.Kind != method.Patches {
			continue
		}
		for _, l := range t.trunk.Layers() {
			for _, name := range tap.Layers {
				if l.Name != name {
					continue
				}
				side := (int64(t.ds.H) + l.Stride - 1) / l.Stride
				out[tap.Name+"."+name] = g.sample(int(side*side), tap.Patches)
			}
		}
	}
	return out
}

// tap turns a view's trunk outputs into the method's features. Online taps
// also go to online (with their graph); the method gets detached aliases.
// A view cut into a grid×grid of patches (grid > 0) has its pooled
// features reshaped from [N·G·G, D] to [N, G, G, D].
func (t *Trainer) tap(s *tensor.Scope, view string, target bool, grid int, feats method.Tensors, patchIdx map[string][]int64, online, out method.Tensors) error {
	put := func(key string, x *ts.Tensor) {
		k := method.FeatureKey(view, key, target)
		if online != nil {
			online[k] = x
		}
		out[k] = s.T(x.MustDetach(false))
	}
	for _, tap := range t.spec.EffectiveTaps() {
		switch tap.Kind {
		case method.Pooled:
			x := feats[encoder.Pooled]
			if grid > 0 {
				g := int64(grid)
				x = s.T(x.MustReshape([]int64{-1, g, g, x.MustSize()[1]}, false))
			}
			put(tap.Name, x)
		case method.Layer:
			for _, l := range tap.Layers {
				put(tap.Name+"."+l, feats[l])
			}
		case method.Patches:
			for _, l := range tap.Layers {
				key := tap.Name + "." + l
				x := feats[l]
				size := x.MustSize()                                                              // N, C, H, W
				flat := s.T(s.T(x.MustFlatten(2, 3, false)).MustPermute([]int64{0, 2, 1}, false)) // N, HW, C
				idx := s.T(must(tensor.FromInt64(patchIdx[key], int64(len(patchIdx[key])))))
				if t.dev.IsCuda() {
					idx = s.T(idx.MustTo(t.dev, false))
				}
				picked := s.T(flat.MustIndexSelect(1, idx, false)) // N, P, C
				put(key, s.T(picked.MustReshape([]int64{-1, size[1]}, false)))
			}
		}
	}
	return nil
}

func must(x *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return x
}
