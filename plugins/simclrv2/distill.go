package simclrv2

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// DistillName is the id of SimCLR v2's self-distillation.
const DistillName = "simclrv2_distill"

// DistillConstructor makes fresh self-distillation methods.
func DistillConstructor() method.Constructor {
	return method.Constructor{
		Name:    DistillName,
		Summary: "SimCLR v2 self-distillation: a student matches a frozen teacher's softened predictions",
		New:     func() method.Method { return NewDistill() },
	}
}

// DistillDefaults: temperature 1 (the paper's self-distillation setting and
// the colab's default), the teacher's classifier read from teacher_head (a
// safetensors file, see Distill), num_classes 0 = the teacher's, or 10
// (Fashion-MNIST) without a teacher file; the student head's Adam at lr
// 1e-3, weight decay 1e-6.
func DistillDefaults() method.Params {
	return method.Params{
		"temperature": 1.0, "teacher_head": "", "num_classes": int64(0),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// KD is SimCLR v2's distillation loss (add_kd_loss of the tf2 colab,
// METHODS.md's simclrv2_distill section): T² · mean_b Σ_c
// −softmax(teacher_b/T)_c · log_softmax(student_b/T)_c, a soft-target
// cross-entropy (not KL: the teacher's entropy stays in). teacher is used
// as given: pass a detached tensor. It computes in student's dtype; the
// caller owns the result.
func KD(student, teacher *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := student.DType()
	p := s.T(s.T(teacher.MustDivScalar(ts.FloatScalar(t), false)).MustSoftmax(1, dt, false))
	ls := s.T(s.T(student.MustDivScalar(ts.FloatScalar(t), false)).MustLogSoftmax(1, dt, false))
	ce := s.T(s.T(p.MustMul(ls, false)).MustSumDimIntlist([]int64{1}, false, dt, false))
	mean := s.T(ce.MustMean(dt, false))
	return mean.MustMulScalar(ts.FloatScalar(-t*t), false)
}

// Distill is SimCLR v2's self-distillation on unlabeled images. Host and
// method split the teacher (trunk + classifier) and the student (trunk +
// classifier) this way:
//
//   - The teacher's trunk is the host's target trunk: the Spec declares a
//     target with momentum 1 (a frozen copy of the trunk as the host built
//     it) and sends view v1 through both. Its pooled features arrive as
//     "v1/pooled@target".
//   - The teacher's classifier is a frozen Linear(D, C) head loaded from the
//     safetensors file named by the teacher_head config ("weight" [C, D] and
//     optional "bias" [C], the layout of PyTorch's nn.Linear and of this
//     SDK's Linear), so teacher logits = head(target features).
//   - The student is the host's trunk plus a Linear(D, C) the method trains;
//     the loss is KD of the student's logits against the teacher's.
//
// For a real self-distillation the host's trunk starts from the teacher's
// weights, so that its frozen copy is the teacher: selfsup pretrain --init
// CKPT (train.Config.Init) loads the trunk of a pre-training checkpoint
// before the target is copied from it, and selfsup eval --save-probe FILE
// (or pretrain --save-probe) writes that trunk's linear probe on raw
// features in the teacher_head layout. A run is then: pretrain simclrv2 →
// eval --save-probe FILE → pretrain simclrv2_distill --init CKPT --set
// teacher_head=FILE (recipes/simclrv2_distill-fmnist.yaml). The host does
// not fine-tune a trunk, so the teacher is the linear-evaluated model, not
// the paper's fine-tuned one. Without a teacher_head file the teacher
// classifier is a fixed, seeded random Linear: the method then runs (tests,
// plumbing) but distils a random function; the metric "teacher_loaded" says
// which.
type Distill struct {
	h                nn.Heads // student head, Adam, counters
	temperature      float64
	student, teacher *nn.Linear
	teacherVS        *gnn.VarStore // frozen teacher classifier
	loaded           bool
}

// NewDistill returns a self-distillation method that still needs Setup
// (Loss works at once).
func NewDistill() *Distill { return &Distill{h: nn.Heads{Name: DistillName}} }

// Spec: one view v1 through the trunk (the student) and through a frozen
// target (momentum 1: the teacher's trunk) run in inference mode, its
// BatchNorm on running statistics as when the teacher's probe was fitted;
// pooled tap. The view uses the
// "mocov2" recipe, the mildest built-in at 28×28 (crop, flip, light jitter);
// SimCLR v2 distils on crop-and-flip views, which a recipe file gets by
// overriding the recipe (see recipes/simclrv2_distill-fmnist.yaml).
func (m *Distill) Spec() method.Spec {
	return method.Spec{
		Name:     DistillName,
		Views:    []method.View{{Name: "v1", Recipe: "mocov2", Online: true, Target: true}},
		Target:   &method.Target{Momentum: 1, Schedule: method.Constant, Inference: true},
		Defaults: DistillDefaults(),
	}
}

// Setup builds the student classifier and its Adam (seeded by req.Seed) and
// the frozen teacher classifier (from the teacher_head file, or seeded).
func (m *Distill) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(DistillName, DistillDefaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var errs [5]error
	var t, lr, wd float64
	var classes int64
	var path string
	t, errs[0] = p.Float("temperature")
	lr, errs[1] = p.Float("lr")
	wd, errs[2] = p.Float("weight_decay")
	classes, errs[3] = p.Int("num_classes")
	path, errs[4] = p.StringOr("teacher_head", "")
	if err := errors.Join(errs[:]...); err != nil {
		return method.SetupResponse{}, fmt.Errorf("simclrv2_distill setup: %w", err)
	}
	if t <= 0 || classes < 0 {
		return method.SetupResponse{}, fmt.Errorf("simclrv2_distill setup: temperature %v, num_classes %d: want temperature > 0, num_classes ≥ 0", t, classes)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.release()
	m.temperature = t
	var head map[string]*ts.Tensor
	if path != "" {
		if head, err = readHead(path, m.h.Dim, classes); err != nil {
			m.Close()
			return method.SetupResponse{}, fmt.Errorf("simclrv2_distill setup: %w", err)
		}
		defer func() {
			for _, x := range head {
				x.MustDrop()
			}
		}()
		classes = head["weight"].MustSize()[0]
	} else if classes == 0 {
		classes = 10
	}
	if err = m.build(req.Seed, classes, head, lr, wd); err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("simclrv2_distill setup: %w", err)
	}
	m.loaded = head != nil
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// build makes the student and teacher classifiers and the student's Adam.
func (m *Distill) build(seed, classes int64, head map[string]*ts.Tensor, lr, wd float64) error {
	var err error
	if m.student, err = nn.NewLinear(m.h.VS.Root().Sub("student"), nn.NewRand(seed), m.h.Dim, classes, true); err != nil {
		return err
	}
	m.teacherVS = gnn.NewVarStore(m.h.Dev)
	// a seed stream of its own, so that a stand-in teacher differs from the
	// student's initialisation
	if m.teacher, err = nn.NewLinear(m.teacherVS.Root(), nn.NewRand(seed^0x7eac4e5), m.h.Dim, classes, true); err != nil {
		return err
	}
	if head != nil {
		st := nn.NewState()
		st.Tensors = head
		if err := st.LoadVars("", m.teacherVS); err != nil {
			return fmt.Errorf("teacher head: %w", err)
		}
	}
	if err := nn.Freeze(m.teacherVS); err != nil {
		return err
	}
	return m.h.Finish(lr, wd, nil)
}

// readHead reads a Linear(D, C) classifier from a safetensors file:
// "weight" [C, D] and optional "bias" [C], as float32 CPU tensors.
func readHead(path string, dim, classes int64) (map[string]*ts.Tensor, error) {
	raw, _, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("teacher head %s: %w", path, err)
	}
	out := map[string]*ts.Tensor{}
	for name, x := range raw {
		if name == "weight" || name == "bias" {
			out[name] = x.MustTotype(gotch.Float, false)
		}
		x.MustDrop()
	}
	fail := func(format string, args ...any) (map[string]*ts.Tensor, error) {
		for _, x := range out {
			x.MustDrop()
		}
		return nil, fmt.Errorf("teacher head %s: "+format, append([]any{path}, args...)...)
	}
	w, ok := out["weight"]
	if !ok {
		return fail("no tensor \"weight\"; want a Linear classifier: weight [C, D], bias [C]")
	}
	ws := w.MustSize()
	if len(ws) != 2 || ws[1] != dim || ws[0] < 2 {
		return fail("weight of shape %v; want [C ≥ 2, %d] for the trunk's %d-d features", ws, dim, dim)
	}
	if classes != 0 && classes != ws[0] {
		return fail("%d classes, but num_classes is %d; leave num_classes at 0 to take the teacher's", ws[0], classes)
	}
	if b, ok := out["bias"]; !ok {
		out["bias"] = ts.MustZeros([]int64{ws[0]}, gotch.Float, gotch.CPU)
	} else if bs := b.MustSize(); len(bs) != 1 || bs[0] != ws[0] {
		return fail("bias of shape %v; want [%d]", bs, ws[0])
	}
	return out, nil
}

// Loss evaluates KD on roles student_logits and teacher_logits [B, C]
// (teacher detached: a frozen teacher) with param temperature.
func (m *Distill) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err := in.Params.Float("temperature")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclrv2_distill loss: %w", err)
	}
	if t <= 0 {
		return method.LossOutput{}, fmt.Errorf("simclrv2_distill loss: temperature %v must be positive", t)
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "student_logits", "teacher_logits")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclrv2_distill loss: %w", err)
	}
	defer l.Drop()
	st, te := l.T("student_logits"), l.T("teacher_logits")
	if err := methodkit.SamePairs(st, te, 1); err != nil {
		return method.LossOutput{}, fmt.Errorf("simclrv2_distill loss: student_logits, teacher_logits: %w", err)
	}
	if in.IsDetached("teacher_logits") {
		te = te.MustDetach(false)
		defer te.MustDrop()
	}
	loss := KD(st, te, t)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("simclrv2_distill loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
}

// Step: student logits from the trunk's features of v1, teacher logits from
// the frozen classifier on the target trunk's features of v1, KD, the
// student head's update when req.Train, and the gradient for the trunk's
// features. Metrics: agreement (the fraction of images where student and
// teacher predict the same class) and teacher_loaded (1 with a teacher_head
// file, 0 with the stand-in).
func (m *Distill) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	f, err := methodkit.Feature(DistillName, req, key1, m.h.Dim, 2)
	if err != nil {
		return method.StepResponse{}, err
	}
	ft, err := methodkit.Feature(DistillName, req, teacherKey, m.h.Dim, 2)
	if err != nil {
		return method.StepResponse{}, err
	}
	if f.MustSize()[0] != ft.MustSize()[0] {
		return method.StepResponse{}, fmt.Errorf("simclrv2_distill step: %d student rows, %d teacher rows; want one batch", f.MustSize()[0], ft.MustSize()[0])
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	leaf := s.T(nn.Leaf(f))
	x := methodkit.ToHead(s, leaf, m.h.Dev)
	studentLogits := s.T(m.student.Forward(x))
	xt := s.T(s.T(ft.MustDetach(false)).MustTo(m.h.Dev, false).MustTotype(gotch.Float, true))
	teacherLogits := s.T(s.T(m.teacher.Forward(xt)).MustDetach(false))
	loss := s.T(KD(studentLogits, teacherLogits, m.temperature))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("simclrv2_distill step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
	}
	agree := agreement(s, studentLogits, teacherLogits)
	g, err := nn.Grad(leaf)
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("simclrv2_distill step: %w", err)
	}
	loaded := 0.0
	if m.loaded {
		loaded = 1
	}
	return method.StepResponse{
		Loss:    value,
		Metrics: map[string]float64{"agreement": agree, "teacher_loaded": loaded},
		Grads:   method.Tensors{key1: g},
	}, nil
}

// agreement is the fraction of rows where the two logits' argmax agree.
func agreement(s *tensor.Scope, a, b *ts.Tensor) float64 {
	var v float64
	tensor.NoGrad(func() {
		ia := s.T(a.MustArgmax([]int64{1}, false, false))
		ib := s.T(b.MustArgmax([]int64{1}, false, false))
		hit := s.T(s.T(ia.MustEqTensor(ib, false)).MustTotype(gotch.Double, false))
		v = nn.Item(s.T(hit.MustMean(gotch.Double, false)))
	})
	return v
}

// Save writes the student head, Adam's moments, the step counts and the
// teacher classifier.
func (m *Distill) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.h.Ready(); err != nil {
		return nil, err
	}
	loaded := int64(0)
	if m.loaded {
		loaded = 1
	}
	return m.h.Save(func(st *nn.State) {
		st.AddVars("teacher/", m.teacherVS)
		st.Ints["teacher_loaded"] = loaded
	})
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Distill) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.h.Ready(); err != nil {
		return err
	}
	return m.h.Load(state, func(st *nn.State) error {
		loaded, err := st.Int("teacher_loaded")
		if err != nil {
			return err
		}
		if err := st.LoadVars("teacher/", m.teacherVS); err != nil {
			return err
		}
		m.loaded = loaded == 1
		return nil
	})
}

// Close frees the heads and the optimizer.
func (m *Distill) Close() error {
	m.h.Release()
	m.release()
	return nil
}

func (m *Distill) release() {
	if m.teacherVS != nil {
		m.teacherVS.Destroy()
	}
	m.teacherVS, m.student, m.teacher, m.loaded = nil, nil, nil, false
}
