package simclrv2

import (
	"errors"
	"fmt"

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

// DistillConfig: temperature 1 (the paper's self-distillation setting and
// the colab's default); the student head's Adam at lr 1e-3, weight decay
// 1e-6.
type DistillConfig struct {
	Temperature float64 `param:"temperature" default:"1" doc:"KD temperature (> 0)"`
	TeacherHead string  `param:"teacher_head" default:"" doc:"safetensors file of the teacher's Linear classifier (weight [C, D], bias [C]); empty: a seeded random stand-in"`
	NumClasses  int64   `param:"num_classes" default:"0" doc:"classes; 0 means the teacher's, or 10 (Fashion-MNIST) without a teacher file"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the student head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the student head"`
}

// Validate checks the config.
func (c *DistillConfig) Validate() error {
	if c.Temperature <= 0 || c.NumClasses < 0 {
		return fmt.Errorf("temperature %v, num_classes %d: want temperature > 0, num_classes ≥ 0", c.Temperature, c.NumClasses)
	}
	return nil
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
type Distill = methodkit.Method[DistillConfig]

// NewDistill returns a self-distillation method that still needs Setup
// (Loss works at once).
func NewDistill() *Distill { return methodkit.New(DistillDef) }

// DistillConstructor makes fresh self-distillation methods.
func DistillConstructor() method.Constructor { return methodkit.Constructor(DistillDef) }

// DistillDef is Distill for the method kit.
var DistillDef = methodkit.Def[DistillConfig]{
	Name: DistillName, Summary: "SimCLR v2 self-distillation: a student matches a frozen teacher's softened predictions",
	// One view v1 through the trunk (the student) and through a frozen
	// target (momentum 1: the teacher's trunk) run in inference mode, its
	// BatchNorm on running statistics as when the teacher's probe was
	// fitted. The view uses the "mocov2" recipe, the mildest built-in at
	// 28×28 (crop, flip, light jitter); SimCLR v2 distils on crop-and-flip
	// views, which a recipe file gets by overriding the recipe (see
	// recipes/simclrv2_distill-fmnist.yaml).
	Spec: func(*DistillConfig) method.Spec {
		return method.Spec{
			Views:  []method.View{{Name: "v1", Recipe: "mocov2", Online: true, Target: true}},
			Target: &method.Target{Momentum: 1, Schedule: method.Constant, Inference: true},
		}
	},
	Build: buildDistill,
	// KD on roles student_logits and teacher_logits [B, C] (teacher
	// detached: a frozen teacher).
	Loss: &methodkit.Loss[DistillConfig]{Roles: []string{"student_logits", "teacher_logits"}, Fn: func(r method.Tensors, c *DistillConfig, _ method.Params) (*ts.Tensor, error) {
		if err := methodkit.SamePairs(r["student_logits"], r["teacher_logits"], 1); err != nil {
			return nil, err
		}
		return KD(r["student_logits"], r["teacher_logits"], c.Temperature), nil
	}},
	MinBatch: 2,
}

// distill is a set-up Distill: the student classifier (in the heads, with
// Adam) and the frozen teacher classifier.
type distill struct {
	student, teacher *nn.Linear
	teacherVS        *gnn.VarStore
	t                float64
	loaded           bool // the teacher came from a teacher_head file
}

// buildDistill makes the student classifier and its Adam (seeded by the
// heads) and the frozen teacher classifier (from the teacher_head file, or
// seeded).
func buildDistill(h *methodkit.Heads, c *DistillConfig) (methodkit.Stepper, error) {
	classes := c.NumClasses
	var head map[string]*ts.Tensor
	if c.TeacherHead != "" {
		var err error
		if head, err = readHead(c.TeacherHead, h.Dim, classes); err != nil {
			return nil, err
		}
		defer method.Tensors(head).Drop()
		classes = head["weight"].MustSize()[0]
	} else if classes == 0 {
		classes = 10
	}
	m := &distill{t: c.Temperature, loaded: head != nil, teacherVS: gnn.NewVarStore(h.Dev)}
	var err error
	if m.student, err = nn.NewLinear(h.Sub("student"), h.Rng, h.Dim, classes, true); err != nil {
		return m, err
	}
	// a seed stream of its own, so that a stand-in teacher differs from the
	// student's initialisation
	if m.teacher, err = nn.NewLinear(m.teacherVS.Root(), nn.NewRand(h.Seed^0x7eac4e5), h.Dim, classes, true); err != nil {
		return m, err
	}
	if head != nil {
		st := methodkit.NewState()
		st.Tensors = head
		if err := st.LoadVars("", m.teacherVS); err != nil {
			return m, fmt.Errorf("teacher head: %w", err)
		}
	}
	return m, errors.Join(nn.Freeze(m.teacherVS), h.Adam(c.LR, c.WeightDecay))
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

// Forward: student logits from the trunk's features of v1, teacher logits
// from the frozen classifier on the target trunk's features of v1, and KD.
// Metrics: agreement (the fraction of images where student and teacher
// predict the same class) and teacher_loaded (1 with a teacher_head file, 0
// with the stand-in).
func (m *distill) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	student := s.T(m.student.Forward(s.Online("v1")))
	teacher := s.T(s.T(m.teacher.Forward(s.Target("v1"))).MustDetach(false))
	s.Metric("agreement", agreement(s.Scope, student, teacher))
	s.Metric("teacher_loaded", float64(loadedInt(m.loaded)))
	return KD(student, teacher, m.t), nil
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

// SaveState adds the teacher classifier and whether it was loaded.
func (m *distill) SaveState(st *methodkit.State) {
	st.AddVars("teacher/", m.teacherVS)
	st.Ints["teacher_loaded"] = loadedInt(m.loaded)
}

// LoadState restores what SaveState wrote.
func (m *distill) LoadState(st *methodkit.State) error {
	loaded, err := st.Int("teacher_loaded")
	if err != nil {
		return err
	}
	if err := st.LoadVars("teacher/", m.teacherVS); err != nil {
		return err
	}
	m.loaded = loaded == 1
	return nil
}

// Release frees the teacher classifier (the kit frees the heads).
func (m *distill) Release() { m.teacherVS.Destroy() }

func loadedInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
