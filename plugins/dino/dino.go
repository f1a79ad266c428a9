// Package dino is DINO (Caron et al. 2021): self-distillation with no
// labels. A student head on every crop learns to match a teacher head (an
// EMA of the student, on an EMA of the trunk) on the two global crops; the
// teacher's outputs are centred (a centre kept with momentum) and sharpened
// by a low temperature that warms up over the first epochs; the heads end in
// a weight-normalised last layer. Import it to run DINO in process, or serve
// it with the plugin binary in cmd/selfsup-dino.
package dino

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Name is the method id.
const Name = "dino"

// Multi-crop layout of the default Spec: DINO's 2 global + 8 local crops.
const (
	GlobalCrops = 2
	LocalCrops  = 8
)

// TeacherMomentum is momentum_teacher: the EMA coefficient of the teacher
// (trunk and head), raised to 1 along a cosine over training.
const TeacherMomentum = 0.996

// Constructor makes fresh DINO methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "DINO: self-distillation of a centred, sharpened EMA teacher into a multi-crop student",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults follow facebookresearch/dino's main_dino.py (student_temp 0.1,
// teacher_temp 0.04 with warmup_teacher_temp 0.04 over
// warmup_teacher_temp_epochs 0, center_momentum 0.9, norm_last_layer true,
// freeze_last_layer 1 epoch, a 3-layer GELU head with a 256-d bottleneck),
// scaled to Fashion-MNIST's 128-d convnet-s features: hidden 512,
// bottleneck 128 and 4096 output dimensions (65536 in the reference).
//
// The head's optimizer is main_dino.py's too: AdamW (no decay on biases
// and the last layer's gain) at lr 0.0005·batch/256, warmed up linearly
// over warmup_epochs 10 (of the reference's 100: set it to the host's
// train.warmup_epochs, scaled to the run's length) and then down a cosine
// to min_lr 1e-6 at the end of the run; weight decay along a cosine from
// weight_decay 0.04 to weight_decay_end 0.4 (0, or weight_decay itself,
// keeps it constant); every head parameter's gradient clipped on its own to
// clip_grad 3.0 (0: off) before the step. The schedules need the run's
// length and the data set's size from Setup (TotalSteps, NumSamples):
// without the size there is no warm-up, without the length no cosine.
func Defaults() method.Params {
	return method.Params{
		"out_dim": int64(4096), "hidden_dim": int64(512), "bottleneck_dim": int64(128),
		"norm_last_layer": true,
		"student_temp":    0.1, "teacher_temp": 0.04,
		"warmup_teacher_temp": 0.04, "warmup_teacher_temp_epochs": int64(0),
		"center_momentum": 0.9, "freeze_last_layer": 1.0,
		"lr": 5e-4, "weight_decay": 0.04,
		"warmup_epochs": 10.0, "min_lr": 1e-6, "weight_decay_end": 0.4, "clip_grad": 3.0,
	}
}

// Loss is DINOLoss.forward (METHODS.md's dino section): with
// s_v = log_softmax(student_v/τs) for every crop v and
// t_c = softmax((teacher_c − center)/τt) for the global crops c ∈ {0, 1}
// (no gradient), the mean over the 2(ncrops−1) pairs v ≠ c of
// mean_n Σ_k −t_c·s_v. Rows are crop-major. The caller owns the result.
func Loss(student, teacher, center *ts.Tensor, ncrops int64, studentTemp, teacherTemp float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := student.DType()
	n, k := student.MustSize()[0]/ncrops, student.MustSize()[1]
	logp := s.T(s.T(student.MustDivScalar(ts.FloatScalar(studentTemp), false)).MustLogSoftmax(1, dt, false))
	var tp *ts.Tensor
	nn.NoGrad(func() {
		c := s.T(s.T(s.T(teacher.MustDetach(false)).MustSub(center, false)).MustDivScalar(ts.FloatScalar(teacherTemp), false))
		tp = s.T(c.MustSoftmax(1, dt, false))
	})
	// cross[c, v] = Σ_n Σ_k t_c[n,k]·s_v[n,k], for all pairs at once
	tm := s.T(tp.MustReshape([]int64{GlobalCrops, n * k}, false))
	sm := s.T(logp.MustReshape([]int64{ncrops, n * k}, false))
	cross := s.T(tm.MustMm(s.T(sm.MustT(false)), false))
	own := make([]int64, GlobalCrops) // teacher crop c is student crop c
	for c := range own {
		own[c] = int64(c)
	}
	mask := s.T(methodkit.PairMask(own, ncrops, dt, student.MustDevice()))
	total := s.T(s.T(cross.MustMul(mask, false)).MustSum(dt, false))
	terms := float64(GlobalCrops * (ncrops - 1))
	return total.MustDivScalar(ts.FloatScalar(-float64(n)*terms), false)
}

// UpdateCenter is DINOLoss.update_center: m·center + (1−m)·mean of the raw
// teacher rows, outside autograd. The caller owns the result.
func UpdateCenter(center, teacher *ts.Tensor, m float64) *ts.Tensor {
	var out *ts.Tensor
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		mean := s.T(s.T(teacher.MustDetach(false)).MustMeanDim([]int64{0}, true, teacher.DType(), false))
		a := s.T(center.MustMulScalar(ts.FloatScalar(m), false))
		out = a.MustAdd(s.T(mean.MustMulScalar(ts.FloatScalar(1-m), false)), false)
	})
	return out
}

// TeacherTemp is the teacher temperature of an epoch: linspace(warmup,
// final, warmupEpochs)[epoch] during the warm-up, final after it.
func TeacherTemp(epoch, warmupEpochs int64, warmup, final float64) float64 {
	switch {
	case epoch >= warmupEpochs:
		return final
	case warmupEpochs == 1:
		return warmup
	}
	return warmup + (final-warmup)*float64(epoch)/float64(warmupEpochs-1)
}

// head is DINOHead: Linear-GELU-Linear-GELU-Linear to the bottleneck, L2
// normalisation, and a weight-normalised Linear without bias,
// W = g·v/‖v‖ row-wise, with g fixed to 1 when norm_last_layer.
type head struct {
	l1, l2, l3 *nn.Linear
	v, g       *ts.Tensor // last layer direction [out, bottleneck] and gain [out] (nil: fixed 1)
}

// newMLP adds the MLP part under p (trunc_normal(std 0.02) weights, zero
// biases, as the reference's _init_weights).
func newMLP(p *gnn.Path, rng *rand.Rand, in, hidden, bottleneck int64) (*head, error) {
	h := &head{}
	for i, d := range [][2]int64{{in, hidden}, {hidden, hidden}, {hidden, bottleneck}} {
		l, err := truncLinear(p.Sub("mlp").Sub(strconv.Itoa(2*i)), rng, d[0], d[1])
		if err != nil {
			return nil, err
		}
		*[]**nn.Linear{&h.l1, &h.l2, &h.l3}[i] = l
	}
	return h, nil
}

// newLast adds the weight-normalised last layer under p: v with
// nn.Linear's default init, g filled with 1 (trainable unless norm).
func newLast(p *gnn.Path, rng *rand.Rand, h *head, bottleneck, out int64, norm bool) error {
	l, err := nn.NewLinear(p.Sub("last_layer"), rng, bottleneck, out, false)
	if err != nil {
		return err
	}
	h.v = l.W
	if !norm {
		g, err := nn.Filled(1, p.Device(), out)
		if err != nil {
			return err
		}
		if h.g, err = nn.AddParam(p.Sub("last_layer"), "weight_g", g); err != nil {
			return err
		}
	}
	return nil
}

func truncLinear(p *gnn.Path, rng *rand.Rand, in, out int64) (*nn.Linear, error) {
	w := make([]float32, in*out)
	for i := range w {
		x := rng.NormFloat64() * 0.02
		for math.Abs(x) > 2 { // trunc_normal_(std=.02) with its default bounds ±2
			x = rng.NormFloat64() * 0.02
		}
		w[i] = float32(x)
	}
	wt, err := tensor.FromFloat32(w, out, in)
	if err != nil {
		return nil, err
	}
	wt = wt.MustTo(p.Device(), true)
	bt, err := nn.Filled(0, p.Device(), out)
	if err != nil {
		wt.MustDrop()
		return nil, err
	}
	l := &nn.Linear{}
	if l.W, err = nn.AddParam(p, "weight", wt); err != nil {
		bt.MustDrop()
		return nil, err
	}
	if l.B, err = nn.AddParam(p, "bias", bt); err != nil {
		return nil, err
	}
	return l, nil
}

// forward maps x [N, in] to the head's outputs [N, out]. The caller owns
// the result.
func (h *head) forward(x *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	y := s.T(s.T(h.l1.Forward(x)).MustGelu("none", false))
	y = s.T(s.T(h.l2.Forward(y)).MustGelu("none", false))
	y = s.T(nn.Normalize(s.T(h.l3.Forward(y))))
	w := s.T(nn.Normalize(h.v))
	if h.g != nil {
		w = s.T(w.MustMul(s.T(h.g.MustUnsqueeze(1, false)), false))
	}
	return y.MustMatmul(s.T(w.MustT(false)), false)
}

// config is the merged, checked configuration.
type config struct {
	out, hidden, bottleneck, warmupEpochs int64
	norm                                  bool
	studentT, teacherT, warmupT, centerM  float64
	freezeLast, lr, wd                    float64
	lrWarmup, minLR, wdEnd, clip          float64 // the head optimizer's schedules and clipping
}

func readConfig(over method.Params) (config, error) {
	p, err := methodkit.Params(Name, Defaults(), over)
	if err != nil {
		return config{}, err
	}
	var c config
	var e [16]error
	c.out, e[0] = p.Int("out_dim")
	c.hidden, e[1] = p.Int("hidden_dim")
	c.bottleneck, e[2] = p.Int("bottleneck_dim")
	c.norm, e[3] = p.BoolOr("norm_last_layer", true)
	c.studentT, e[4] = p.Float("student_temp")
	c.teacherT, e[5] = p.Float("teacher_temp")
	c.warmupT, e[6] = p.Float("warmup_teacher_temp")
	c.warmupEpochs, e[7] = p.Int("warmup_teacher_temp_epochs")
	c.centerM, e[8] = p.Float("center_momentum")
	c.freezeLast, e[9] = p.Float("freeze_last_layer")
	c.lr, e[10] = p.Float("lr")
	c.wd, e[11] = p.Float("weight_decay")
	c.lrWarmup, e[12] = p.Float("warmup_epochs")
	c.minLR, e[13] = p.Float("min_lr")
	c.wdEnd, e[14] = p.Float("weight_decay_end")
	c.clip, e[15] = p.Float("clip_grad")
	if err := errors.Join(e[:]...); err != nil {
		return c, fmt.Errorf("dino: %w", err)
	}
	if c.lr <= 0 || c.lrWarmup < 0 || c.minLR < 0 || c.minLR > c.lr || c.wd < 0 || c.wdEnd < 0 || c.clip < 0 {
		return c, fmt.Errorf("dino: lr %v, warmup_epochs %v, min_lr %v, weight_decay %v, weight_decay_end %v, clip_grad %v: want a positive lr, min_lr from 0 up to lr, no negative values", c.lr, c.lrWarmup, c.minLR, c.wd, c.wdEnd, c.clip)
	}
	if c.studentT <= 0 || c.teacherT <= 0 || c.warmupT <= 0 || c.centerM < 0 || c.centerM > 1 || c.warmupEpochs < 0 || c.freezeLast < 0 {
		return c, fmt.Errorf("dino: temperatures %v, %v, %v, center_momentum %v, warm-up %d epochs, freeze_last_layer %v: want positive temperatures, a momentum in [0, 1], no negative epochs", c.studentT, c.teacherT, c.warmupT, c.centerM, c.warmupEpochs, c.freezeLast)
	}
	return c, nil
}

// Method is DINO. The student MLP lives in h (AdamW, with its EMA teacher
// in h.Target); the last layer has its own store, optimizer and EMA copy,
// so that freezing it in the first epoch skips its update entirely, as the
// reference's p.grad = None does.
type Method struct {
	h                nn.Heads
	cfg              config
	views            []string
	nData            int64
	student, teacher *head
	lastVS, lastT    *gnn.VarStore
	lastOpt          optim.Optimizer
	params           []*ts.Tensor // the student head's (MLP and last layer), for clipping
	center           *ts.Tensor   // [1, out]
}

// New returns DINO with 2 global and 8 local crops; it still needs Setup
// (Loss works at once).
func New() *Method { return NewMultiCrop(LocalCrops) }

// NewMultiCrop returns DINO with two global crops and locals local crops.
func NewMultiCrop(locals int) *Method {
	m := &Method{h: nn.Heads{Name: Name}}
	for i := range GlobalCrops {
		m.views = append(m.views, "global"+strconv.Itoa(i+1))
	}
	for i := range max(locals, 0) {
		m.views = append(m.views, "local"+strconv.Itoa(i+1))
	}
	return m
}

// Spec: the global crops (recipes dino-global and dino-global2) through the
// trunk and its EMA teacher (momentum 0.996 to 1 on a cosine), the local
// crops (dino-local) through the trunk only, pooled tap.
func (m *Method) Spec() method.Spec {
	var views []method.View
	for i, v := range m.views {
		switch i {
		case 0:
			views = append(views, method.View{Name: v, Recipe: "dino-global", Online: true, Target: true})
		case 1:
			views = append(views, method.View{Name: v, Recipe: "dino-global2", Online: true, Target: true})
		default:
			views = append(views, method.View{Name: v, Recipe: "dino-local", Online: true})
		}
	}
	return method.Spec{
		Name: Name, Views: views,
		Target:   &method.Target{Momentum: TeacherMomentum, Schedule: method.Cosine, FinalMomentum: 1},
		Defaults: Defaults(),
	}
}

// Setup builds the student head, its teacher copy, the centre (zeros) and
// the AdamW optimizers (no decay on biases and gains), from req.Seed.
func (m *Method) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	cfg, err := readConfig(req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.release()
	m.cfg, m.nData = cfg, req.NumSamples
	rng := nn.NewRand(req.Seed)
	adamw := optim.Config{Name: "adamw", LR: cfg.lr, WeightDecay: cfg.wd}
	if m.student, err = newMLP(m.h.VS.Root(), rng, m.h.Dim, cfg.hidden, cfg.bottleneck); err == nil {
		err = m.h.Finish(cfg.lr, cfg.wd, func(vs *gnn.VarStore) error {
			var err error
			m.teacher, err = newMLP(vs.Root(), rng, m.h.Dim, cfg.hidden, cfg.bottleneck)
			return err
		})
	}
	if err == nil { // AdamW without decay on biases, as get_params_groups
		m.h.Opt.Close()
		ps := optim.Params(m.h.VS)
		m.h.Opt, err = optim.New(adamw, ps)
		m.params = optim.Tensors(ps)
	}
	if err == nil {
		m.lastVS, m.lastT = gnn.NewVarStore(m.h.Dev), gnn.NewVarStore(m.h.Dev)
		err = newLast(m.lastVS.Root(), rng, m.student, cfg.bottleneck, cfg.out, cfg.norm)
	}
	if err == nil {
		err = newLast(m.lastT.Root(), rng, m.teacher, cfg.bottleneck, cfg.out, cfg.norm)
	}
	if err == nil {
		if err = nn.CopyVars(m.lastT, m.lastVS); err == nil {
			err = nn.Freeze(m.lastT)
		}
	}
	if err == nil {
		ps := optim.Params(m.lastVS)
		m.lastOpt, err = optim.New(adamw, ps)
		m.params = append(m.params, optim.Tensors(ps)...)
	}
	if err == nil {
		m.center = ts.MustZeros([]int64{1, cfg.out}, gotch.Float, m.h.Dev)
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("dino setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS) + nn.NumParams(m.lastVS)}, nil
}

// Loss evaluates Loss on roles student_out [ncrops·N, K], teacher_out
// [2N, K] and center [1, K] with params ncrops, student_temp, teacher_temp
// and center_momentum, and returns the updated centre as state.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	ncrops, err1 := in.Params.Int("ncrops")
	st, err2 := in.Params.Float("student_temp")
	tt, err3 := in.Params.Float("teacher_temp")
	cm, err4 := in.Params.Float("center_momentum")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return method.LossOutput{}, fmt.Errorf("dino loss: %w", err)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "student_out", "teacher_out", "center")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("dino loss: %w", err)
	}
	defer l.Drop()
	so, to, c := l.T("student_out"), l.T("teacher_out"), l.T("center")
	ss, tsz, cs := so.MustSize(), to.MustSize(), c.MustSize()
	if len(ss) != 2 || len(tsz) != 2 || len(cs) != 2 || ncrops < 2 || ss[0]%ncrops != 0 || tsz[0] != 2*(ss[0]/ncrops) || tsz[1] != ss[1] || cs[0] != 1 || cs[1] != ss[1] {
		return method.LossOutput{}, fmt.Errorf("dino loss: student_out %v, teacher_out %v, center %v for %d crops: want [ncrops·N, K], [2N, K], [1, K]", ss, tsz, cs, ncrops)
	}
	if st <= 0 || tt <= 0 {
		return method.LossOutput{}, fmt.Errorf("dino loss: temperatures %v, %v must be positive", st, tt)
	}
	loss := Loss(so, to, c, ncrops, st, tt)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("dino loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{"center": UpdateCenter(c, to, cm)}}, nil
}

// epoch is the epoch of a step for batches of n (NumSamples/n steps per
// epoch, dropping the last partial batch as the host does); 0 when the
// data set's size is unknown.
func (m *Method) epoch(step, n int64) int64 {
	if m.nData < n || n <= 0 {
		return 0
	}
	return step / (m.nData / n)
}

// Schedules are the head optimizer's learning rate and weight decay at a
// step for batches of n, as main_dino.py's lr_schedule and wd_schedule:
// the learning rate warms up linearly over warmup_epochs (the host's
// optim.Schedule, as the trunk's) and then follows a cosine to min_lr at
// the end of the run; the weight decay follows utils.cosine_scheduler from
// weight_decay to weight_decay_end. Both depend on the step only.
func (m *Method) Schedules(step, n int64) (lr, wd float64) {
	var perEpoch int64
	if n > 0 && m.nData >= n {
		perEpoch = m.nData / n
	}
	lr = optim.Schedule{Base: m.cfg.lr, Warmup: int64(m.cfg.lrWarmup * float64(perEpoch)), Total: m.h.Total,
		Cosine: true, Final: m.cfg.minLR / m.cfg.lr}.At(step)
	wd = m.cfg.wd
	if m.cfg.wdEnd != 0 {
		wd = optim.CosineSchedule{Start: m.cfg.wd, End: m.cfg.wdEnd, Total: m.h.Total}.At(step)
	}
	return lr, wd
}

// Step: the student head on every crop, the teacher head on the global
// crops' EMA-trunk features, the loss at the epoch's teacher temperature,
// the student update (gradients clipped per parameter, the step's learning
// rate and weight decay, the last layer only after freeze_last_layer
// epochs), then the teacher EMA (the trunk's cosine schedule) and the
// centre update. Metrics: teacher_temp, momentum, last_layer_frozen, lr,
// wd and, on training steps with clip_grad, grad_norm_max (the largest
// head gradient norm before clipping).
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	keys := make([]string, len(m.views))
	feats := make([]*ts.Tensor, len(m.views))
	var tfeats []*ts.Tensor
	get := func(key string, n int64) (*ts.Tensor, error) {
		f, err := req.Features.Get(key)
		if err != nil {
			return nil, fmt.Errorf("dino step: %w; the host must send the views of the Spec", err)
		}
		sz := f.MustSize()
		if len(sz) != 2 || sz[1] != m.h.Dim || (n > 0 && sz[0] != n) || (f.DType() != gotch.Float && f.DType() != gotch.Double) {
			return nil, fmt.Errorf("dino step: feature %s is %v %v, want float [N, %d] with one N for every crop", key, f.DType(), sz, m.h.Dim)
		}
		return f, nil
	}
	var n int64
	for i, v := range m.views {
		keys[i] = method.FeatureKey(v, "pooled", false)
		f, err := get(keys[i], n)
		if err != nil {
			return method.StepResponse{}, err
		}
		n, feats[i] = f.MustSize()[0], f
		if i < GlobalCrops {
			tf, err := get(method.FeatureKey(v, "pooled", true), n)
			if err != nil {
				return method.StepResponse{}, err
			}
			tfeats = append(tfeats, tf)
		}
	}
	epoch := m.epoch(req.Step, n)
	tt := TeacherTemp(epoch, m.cfg.warmupEpochs, m.cfg.warmupT, m.cfg.teacherT)
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	leaves := make([]*ts.Tensor, len(feats))
	for i, f := range feats {
		leaves[i] = s.T(nn.Leaf(f))
	}
	x := s.T(s.T(ts.MustCat(leaves, 0)).MustTo(m.h.Dev, false).MustTotype(gotch.Float, true))
	student := s.T(m.student.forward(x))
	var teacher *ts.Tensor
	nn.NoGrad(func() {
		tx := s.T(s.T(ts.MustCat(tfeats, 0)).MustTo(m.h.Dev, false).MustTotype(gotch.Float, true))
		teacher = s.T(m.teacher.forward(tx))
	})
	loss := s.T(Loss(student, teacher, m.center, int64(len(m.views)), m.cfg.studentT, tt))
	m.h.Opt.ZeroGrad()
	m.lastOpt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("dino step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	frozen := float64(epoch) < m.cfg.freezeLast
	mom := method.Target{Momentum: TeacherMomentum, Schedule: method.Cosine, FinalMomentum: 1}.MomentumAt(req.Step, m.h.Total)
	lr, wd := m.Schedules(req.Step, n)
	metrics := map[string]float64{"teacher_temp": tt, "momentum": mom, "lr": lr, "wd": wd}
	if req.Train {
		// main_dino.py: clip_gradients(student, clip_grad), then
		// cancel_gradients_last_layer (here: no last-layer step), then
		// optimizer.step() at lr_schedule[it], wd_schedule[it].
		if m.cfg.clip > 0 {
			norms, err := optim.ClipPerParam(m.params, m.cfg.clip)
			if err != nil {
				return method.StepResponse{}, fmt.Errorf("dino step: %w", err)
			}
			metrics["grad_norm_max"] = optim.MaxNorm(norms)
		}
		for _, o := range []optim.Optimizer{m.h.Opt, m.lastOpt} {
			o.SetLR(lr)
			o.SetWeightDecay(wd)
		}
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
		if !frozen {
			if err := m.lastOpt.Step(); err != nil {
				return method.StepResponse{}, fmt.Errorf("dino step: last layer: %w", err)
			}
		}
		if err := errors.Join(nn.EMA(m.h.Target, m.h.VS, mom, nn.KeepBuffers), nn.EMA(m.lastT, m.lastVS, mom, nn.KeepBuffers)); err != nil {
			return method.StepResponse{}, fmt.Errorf("dino step: teacher: %w", err)
		}
		c := UpdateCenter(m.center, teacher, m.cfg.centerM)
		m.center.MustDrop()
		m.center = c
	}
	g := method.Tensors{}
	for i, l := range leaves {
		gi, err := nn.Grad(l)
		if err != nil {
			g.Drop()
			return method.StepResponse{}, fmt.Errorf("dino step: %w", err)
		}
		g[keys[i]] = gi
	}
	metrics["last_layer_frozen"] = 0
	if frozen {
		metrics["last_layer_frozen"] = 1
	}
	return method.StepResponse{Loss: value, Metrics: metrics, Grads: g}, nil
}

// Save writes the student and teacher heads, both optimizers, the step
// counts and the centre.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.h.Ready(); err != nil {
		return nil, err
	}
	ost, optStep, err := m.lastOpt.State()
	if err != nil {
		return nil, fmt.Errorf("dino save: last layer optimizer: %w", err)
	}
	defer method.Tensors(ost).Drop()
	return m.h.Save(func(st *nn.State) {
		st.AddVars("last/", m.lastVS)
		st.AddVars("last_target/", m.lastT)
		st.AddTensors("last_opt/", ost)
		st.Ints["last_opt_step"] = optStep
		st.Tensors["center"] = m.center
	})
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, func(st *nn.State) error {
		optStep, err := st.Int("last_opt_step")
		if err != nil {
			return err
		}
		c, err := st.Tensor("center")
		if err != nil {
			return err
		}
		if sz := c.MustSize(); len(sz) != 2 || sz[0] != 1 || sz[1] != m.cfg.out {
			return fmt.Errorf("saved centre %v does not fit out_dim %d; set up with the saved config", sz, m.cfg.out)
		}
		if err := errors.Join(st.LoadVars("last/", m.lastVS), st.LoadVars("last_target/", m.lastT)); err != nil {
			return err
		}
		if err := m.lastOpt.SetState(st.Prefixed("last_opt/"), optStep); err != nil {
			return err
		}
		nc := c.MustTo(m.h.Dev, false).MustTotype(gotch.Float, true).MustContiguous(true)
		m.center.MustDrop()
		m.center = nc
		return nil
	})
}

// Close frees the heads, the optimizers and the centre.
func (m *Method) Close() error {
	m.h.Release()
	m.release()
	return nil
}

func (m *Method) release() {
	if m.lastOpt != nil {
		m.lastOpt.Close()
		m.lastOpt = nil
	}
	for _, vs := range []*gnn.VarStore{m.lastVS, m.lastT} {
		if vs != nil {
			vs.Destroy()
		}
	}
	m.lastVS, m.lastT, m.params = nil, nil, nil
	if m.center != nil {
		m.center.MustDrop()
		m.center = nil
	}
	m.student, m.teacher = nil, nil
}
