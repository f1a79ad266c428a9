// Package dino is DINO (Caron et al. 2021): self-distillation with no
// labels. A student head on every crop learns to match a teacher head (an
// EMA of the student, on an EMA of the trunk) on the two global crops; the
// teacher's outputs are centred (a centre kept with momentum) and sharpened
// by a low temperature that warms up over the first epochs; the heads end in
// a weight-normalised last layer. Import it to run DINO in process, or serve
// it with the plugin binary in cmd/selfsup-dino.
package dino

import (
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

// teacherEMA is the Spec's EMA target, also the head teacher's schedule.
var teacherEMA = method.Target{Momentum: TeacherMomentum, Schedule: method.Cosine, FinalMomentum: 1}

// Config follows facebookresearch/dino's main_dino.py (student_temp 0.1,
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
type Config struct {
	OutDim          int64   `param:"out_dim" default:"4096" doc:"output width of the heads (prototypes)"`
	HiddenDim       int64   `param:"hidden_dim" default:"512" doc:"hidden width of the head MLP"`
	BottleneckDim   int64   `param:"bottleneck_dim" default:"128" doc:"bottleneck width before the last layer"`
	NormLastLayer   bool    `param:"norm_last_layer" default:"true" doc:"fix the last layer's weight-norm gain to 1"`
	StudentTemp     float64 `param:"student_temp" default:"0.1" doc:"student temperature (> 0)"`
	TeacherTemp     float64 `param:"teacher_temp" default:"0.04" doc:"teacher temperature after the warm-up (> 0)"`
	WarmupT         float64 `param:"warmup_teacher_temp" default:"0.04" doc:"teacher temperature at the start of the warm-up (> 0)"`
	WarmupTEpochs   int64   `param:"warmup_teacher_temp_epochs" default:"0" doc:"epochs of the teacher temperature warm-up"`
	CenterMomentum  float64 `param:"center_momentum" default:"0.9" doc:"momentum of the centre, in [0, 1]"`
	FreezeLastLayer float64 `param:"freeze_last_layer" default:"1" doc:"epochs before the last layer trains"`
	LR              float64 `param:"lr" default:"5e-4" doc:"AdamW peak learning rate of the head"`
	WeightDecay     float64 `param:"weight_decay" default:"0.04" doc:"AdamW weight decay at the start"`
	WarmupEpochs    float64 `param:"warmup_epochs" default:"10" doc:"epochs of linear learning-rate warm-up"`
	MinLR           float64 `param:"min_lr" default:"1e-6" doc:"learning rate at the end of the cosine (≤ lr)"`
	WeightDecayEnd  float64 `param:"weight_decay_end" default:"0.4" doc:"weight decay at the end of its cosine (0: constant)"`
	ClipGrad        float64 `param:"clip_grad" default:"3" doc:"per-parameter gradient norm clip of the head (0: off)"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.LR <= 0 || c.WarmupEpochs < 0 || c.MinLR < 0 || c.MinLR > c.LR || c.WeightDecay < 0 || c.WeightDecayEnd < 0 || c.ClipGrad < 0 {
		return fmt.Errorf("lr %v, warmup_epochs %v, min_lr %v, weight_decay %v, weight_decay_end %v, clip_grad %v: want a positive lr, min_lr from 0 up to lr, no negative values", c.LR, c.WarmupEpochs, c.MinLR, c.WeightDecay, c.WeightDecayEnd, c.ClipGrad)
	}
	if c.StudentTemp <= 0 || c.TeacherTemp <= 0 || c.WarmupT <= 0 || c.CenterMomentum < 0 || c.CenterMomentum > 1 || c.WarmupTEpochs < 0 || c.FreezeLastLayer < 0 {
		return fmt.Errorf("temperatures %v, %v, %v, center_momentum %v, warm-up %d epochs, freeze_last_layer %v: want positive temperatures, a momentum in [0, 1], no negative epochs", c.StudentTemp, c.TeacherTemp, c.WarmupT, c.CenterMomentum, c.WarmupTEpochs, c.FreezeLastLayer)
	}
	return nil
}

// Schedules are the head optimizer's learning rate and weight decay at a
// step for batches of n, as main_dino.py's lr_schedule and wd_schedule:
// the learning rate warms up linearly over warmup_epochs (the host's
// optim.Schedule, as the trunk's) and then follows a cosine to min_lr at
// the end of the run (h.Total); the weight decay follows
// utils.cosine_scheduler from weight_decay to weight_decay_end. Both depend
// on the step only.
func (c *Config) Schedules(h *methodkit.Heads, step, n int64) (lr, wd float64) {
	lr = optim.Schedule{Base: c.LR, Warmup: int64(c.WarmupEpochs * float64(h.StepsPerEpoch(n))), Total: h.Total,
		Cosine: true, Final: c.MinLR / c.LR}.At(step)
	wd = c.WeightDecay
	if c.WeightDecayEnd != 0 {
		wd = optim.CosineSchedule{Start: c.WeightDecay, End: c.WeightDecayEnd, Total: h.Total}.At(step)
	}
	return lr, wd
}

// Def is DINO for the method kit with two global and locals local crops.
// The student MLP is the main group (AdamW, its EMA teacher the group's
// target); the last layer is the group "last" with its own AdamW and EMA
// copy, so that freezing it in the first epoch skips its update entirely,
// as the reference's p.grad = None does.
func Def(locals int) methodkit.Def[Config] {
	views := methodkit.CropNames(GlobalCrops, locals)
	return methodkit.Def[Config]{
		Name: Name, Summary: "DINO: self-distillation of a centred, sharpened EMA teacher into a multi-crop student",
		// the global crops (recipes dino-global and dino-global2) through
		// the trunk and its EMA teacher (momentum 0.996 to 1 on a cosine),
		// the local crops (dino-local) through the trunk only, pooled tap
		Spec: func(*Config) method.Spec {
			var vs []method.View
			for i, v := range views {
				vs = append(vs, method.View{Name: v, Recipe: []string{"dino-global", "dino-global2", "dino-local"}[min(i, 2)], Online: true, Target: i < GlobalCrops})
			}
			t := teacherEMA
			// MultiCropWrapper: crops of one resolution in one batch, the
			// teacher on both global crops together
			return method.Spec{Views: vs, Target: &t, Pass: method.Together}
		},
		// the student head and its teacher copy draw from h.Rng in the
		// reference order (student MLP, teacher MLP, student last layer,
		// teacher last layer); AdamW spares biases and gains, as
		// get_params_groups; the centre starts at zeros
		Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
			m := &step{c: c, views: views}
			var err error
			if m.student, err = newMLP(h.VS.Root(), h.Rng, h.Dim, c.HiddenDim, c.BottleneckDim); err != nil {
				return nil, err
			}
			if err := h.EMATarget(func(p *gnn.Path) (err error) {
				m.teacher, err = newMLP(p, h.Rng, h.Dim, c.HiddenDim, c.BottleneckDim)
				return err
			}); err != nil {
				return nil, err
			}
			adamw := optim.Config{Name: "adamw", LR: c.LR, WeightDecay: c.WeightDecay}
			if err := h.Optimize(adamw, false); err != nil {
				return nil, err
			}
			if m.last, err = h.NewGroup("last", adamw,
				func(p *gnn.Path) error {
					return newLast(p, h.Rng, m.student, c.BottleneckDim, c.OutDim, c.NormLastLayer)
				},
				func(p *gnn.Path) error {
					return newLast(p, h.Rng, m.teacher, c.BottleneckDim, c.OutDim, c.NormLastLayer)
				},
			); err != nil {
				return nil, err
			}
			for _, g := range h.Groups() {
				m.params = append(m.params, optim.Tensors(optim.Params(g.VS))...)
			}
			m.center = ts.MustZeros([]int64{1, c.OutDim}, gotch.Float, h.Dev)
			return m, nil
		},
		Loss: &methodkit.Loss[Config]{Roles: []string{"student_out", "teacher_out", "center"},
			Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
				ncrops, err := p.Int("ncrops")
				if err != nil {
					return nil, err
				}
				so, to, ce := r["student_out"], r["teacher_out"], r["center"]
				ss, tsz, cs := so.MustSize(), to.MustSize(), ce.MustSize()
				if len(ss) != 2 || len(tsz) != 2 || len(cs) != 2 || ncrops < 2 || ss[0]%ncrops != 0 || tsz[0] != 2*(ss[0]/ncrops) || tsz[1] != ss[1] || cs[0] != 1 || cs[1] != ss[1] {
					return nil, fmt.Errorf("student_out %v, teacher_out %v, center %v for %d crops: want [ncrops·N, K], [2N, K], [1, K]", ss, tsz, cs, ncrops)
				}
				return Loss(so, to, ce, ncrops, c.StudentTemp, c.TeacherTemp), nil
			},
			// the centre after the step
			State: func(r method.Tensors, c *Config, _ method.Params) (method.Tensors, error) {
				return method.Tensors{"center": UpdateCenter(r["center"], r["teacher_out"], c.CenterMomentum)}, nil
			}},
	}
}

// New returns DINO with 2 global and 8 local crops; it still needs Setup
// (Loss works at once).
func New() *methodkit.Method[Config] { return NewMultiCrop(LocalCrops) }

// NewMultiCrop returns DINO with two global crops and locals local crops.
func NewMultiCrop(locals int) *methodkit.Method[Config] { return methodkit.New(Def(locals)) }

// Constructor makes fresh DINO methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def(LocalCrops)) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

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

// step is a set-up DINO: the heads, the last-layer group, the centre.
type step struct {
	c                *Config
	views            []string
	student, teacher *head
	last             *methodkit.Group
	params           []*ts.Tensor // the student head's (MLP and last layer), for clipping
	center           *ts.Tensor   // [1, out]
	// this step's, for Update and AfterUpdate
	teacherOut  *ts.Tensor
	frozen      bool
	mom, lr, wd float64
}

// Forward: the student head on every crop, the teacher head on the global
// crops' EMA-trunk features, the loss at the epoch's teacher temperature.
// Metrics: teacher_temp, momentum, last_layer_frozen, lr, wd and, on
// training steps with clip_grad, grad_norm_max (Update).
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	c := m.c
	epoch := s.Heads.Epoch(s.Index, s.N)
	tt := TeacherTemp(epoch, c.WarmupTEpochs, c.WarmupT, c.TeacherTemp)
	xs := make([]*ts.Tensor, len(m.views))
	for i, v := range m.views {
		xs[i] = s.Leaf(method.FeatureKey(v, "pooled", false))
	}
	student := s.T(m.student.forward(methodkit.ToHead(s.Scope, s.T(ts.MustCat(xs, 0)), s.Heads.Dev)))
	nn.NoGrad(func() {
		tx := make([]*ts.Tensor, GlobalCrops)
		for i := range tx {
			tx[i] = s.Target(m.views[i])
		}
		m.teacherOut = s.T(m.teacher.forward(s.T(ts.MustCat(tx, 0))))
	})
	m.frozen = float64(epoch) < c.FreezeLastLayer
	m.mom = teacherEMA.MomentumAt(s.Index, s.Heads.Total)
	m.lr, m.wd = c.Schedules(s.Heads, s.Index, s.N)
	frozen := 0.0
	if m.frozen {
		frozen = 1
	}
	for k, v := range map[string]float64{"teacher_temp": tt, "momentum": m.mom, "lr": m.lr, "wd": m.wd, "last_layer_frozen": frozen} {
		s.Metric(k, v)
	}
	return Loss(student, m.teacherOut, m.center, int64(len(m.views)), c.StudentTemp, tt), nil
}

// Update is main_dino.py's clip_gradients(student, clip_grad), then
// cancel_gradients_last_layer (here: no last-layer step), then
// optimizer.step() at lr_schedule[it], wd_schedule[it].
func (m *step) Update(s *methodkit.Step) error {
	if m.c.ClipGrad > 0 {
		norms, err := optim.ClipPerParam(m.params, m.c.ClipGrad)
		if err != nil {
			return err
		}
		s.Metric("grad_norm_max", optim.MaxNorm(norms))
	}
	for _, g := range s.Heads.Groups() {
		g.Opt.SetLR(m.lr)
		g.Opt.SetWeightDecay(m.wd)
	}
	if m.frozen {
		return s.Heads.UpdateGroups(s.Heads.Groups()[0]) // the student MLP only
	}
	return s.Heads.Update()
}

// AfterUpdate moves the teacher (MLP and last layer) on the trunk's cosine
// schedule and the centre toward this step's teacher outputs.
func (m *step) AfterUpdate(s *methodkit.Step) error {
	if err := s.Heads.EMA(m.mom); err != nil {
		return err
	}
	c := UpdateCenter(m.center, m.teacherOut, m.c.CenterMomentum)
	m.center.MustDrop()
	m.center, m.teacherOut = c, nil
	return nil
}

// SaveState adds the centre.
func (m *step) SaveState(st *methodkit.State) { st.Tensors["center"] = m.center }

// LoadState reads the centre back.
func (m *step) LoadState(st *methodkit.State) error {
	c, err := st.Tensor("center")
	if err != nil {
		return err
	}
	if sz := c.MustSize(); len(sz) != 2 || sz[0] != 1 || sz[1] != m.c.OutDim {
		return fmt.Errorf("saved centre %v does not fit out_dim %d; set up with the saved config", sz, m.c.OutDim)
	}
	nc := c.MustTo(m.center.MustDevice(), false).MustTotype(gotch.Float, true).MustContiguous(true)
	m.center.MustDrop()
	m.center = nc
	return nil
}

// Release frees the centre.
func (m *step) Release() {
	if m.center != nil {
		m.center.MustDrop()
		m.center = nil
	}
}
