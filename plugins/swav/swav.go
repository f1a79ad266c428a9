// Package swav is SwAV (Caron et al. 2020): online clustering of the
// projected crops onto L2-normalised prototypes, with codes from a few
// Sinkhorn-Knopp iterations on the global crops and a swapped prediction
// of every other crop (multi-crop), an optional queue of past embeddings
// for the codes, and prototypes frozen for the first iterations. Import it
// to run SwAV in process, or serve it with the plugin binary in
// cmd/selfsup-swav.
package swav

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Name is the method id.
const Name = "swav"

// Multi-crop layout of the default Spec: SwAV's 2×224 + 6×96 recipe.
const (
	GlobalCrops = 2
	LocalCrops  = 6
)

// Config follows facebookresearch/swav's main_swav.py (temperature 0.1,
// epsilon 0.05, 3 Sinkhorn iterations, codes from crops 0 and 1, 128-d
// features, freeze_prototypes_niters 313, epoch_queue_starts 15,
// queue_length 0 = no queue), scaled to Fashion-MNIST: projector
// Linear(D,512)-BN-ReLU-Linear(512,128) (the reference's hidden_mlp is 2048
// for a 2048-d ResNet-50), 300 prototypes (3000 for ImageNet's 1000
// classes), and Adam at lr 1e-3 with weight decay 1e-6 for the heads (the
// reference trains everything with LARS).
type Config struct {
	Temperature        float64 `param:"temperature" default:"0.1" doc:"softmax temperature of the swapped prediction (> 0)"`
	Epsilon            float64 `param:"epsilon" default:"0.05" doc:"Sinkhorn-Knopp regularisation (> 0)"`
	SinkhornIterations int64   `param:"sinkhorn_iterations" default:"3" doc:"Sinkhorn-Knopp iterations (≥ 1)"`
	ProjHidden         int64   `param:"proj_hidden" default:"512" doc:"hidden width of the projector"`
	FeatDim            int64   `param:"feat_dim" default:"128" doc:"projected feature (and prototype) width"`
	NmbPrototypes      int64   `param:"nmb_prototypes" default:"300" doc:"number of prototypes (≥ 2)"`
	FreezeIters        int64   `param:"freeze_prototypes_niters" default:"313" doc:"steps before the prototypes train"`
	QueueLength        int64   `param:"queue_length" default:"0" doc:"queued embeddings per global crop for the codes, cut to a multiple of the batch as main_swav.py (0: no queue)"`
	EpochQueueStarts   float64 `param:"epoch_queue_starts" default:"15" doc:"epoch from which the queue is kept"`
	LR                 float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the projector and prototypes"`
	WeightDecay        float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the projector and prototypes"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.Temperature <= 0 || c.Epsilon <= 0 || c.SinkhornIterations < 1 || c.NmbPrototypes < 2 || c.QueueLength < 0 || c.FreezeIters < 0 {
		return fmt.Errorf("temperature %v, epsilon %v, sinkhorn_iterations %d, nmb_prototypes %d, queue_length %d, freeze_prototypes_niters %d: want positive temperature and epsilon, at least one iteration and two prototypes, no negative lengths", c.Temperature, c.Epsilon, c.SinkhornIterations, c.NmbPrototypes, c.QueueLength, c.FreezeIters)
	}
	return nil
}

// Def is SwAV for the method kit with two global and locals local crops.
// The projector is the main group (Adam); the prototypes are a group of
// their own ("proto/"), so that freezing them skips their update entirely,
// as the reference's p.grad = None does.
func Def(locals int) methodkit.Def[Config] {
	views := methodkit.CropNames(GlobalCrops, locals)
	return methodkit.Def[Config]{
		Name: Name, Summary: "SwAV: swapped prediction of Sinkhorn-Knopp prototype codes across multi-crop views",
		// two global crops with SimCLR's recipe (SwAV's crop, flip, colour
		// distortion of strength 1, blur) at the data's size and the local
		// crops with DINO's local recipe (scale 0.05–0.4 at 96/224 of the
		// side), all through the trunk, pooled tap
		Spec: func(*Config) method.Spec {
			var vs []method.View
			for i, v := range views {
				recipe := "simclr"
				if i >= GlobalCrops {
					recipe = "dino-local"
				}
				vs = append(vs, method.View{Name: v, Recipe: recipe, Online: true})
			}
			// main_swav.py's multi-resolution forward: crops of one size in one batch
			return method.Spec{Views: vs, Pass: method.Together}
		},
		Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
			st := &step{c: c, views: views, dev: h.Dev}
			var err error
			if st.proj, err = nn.NewMLP(h.Sub("proj"), h.Rng, nn.Projector(h.Dim, c.ProjHidden, c.FeatDim)); err != nil {
				return nil, err
			}
			if err := h.Adam(c.LR, c.WeightDecay); err != nil {
				return nil, err
			}
			// the prototypes (nn.Linear's init, no bias) are one 2-d weight,
			// decayed as Adam on every variable would
			_, err = h.NewGroup("proto", optim.Config{Name: "adam", LR: c.LR, WeightDecay: c.WeightDecay}, func(p *gnn.Path) error {
				l, err := nn.NewLinear(p.Sub("prototypes"), h.Rng, c.FeatDim, c.NmbPrototypes, false)
				if err == nil {
					st.protoW = l.W
				}
				return err
			}, nil)
			return st, err
		},
		Loss: &methodkit.Loss[Config]{
			Roles: []string{"scores"}, Fn: loss,
			// the queue variant (queue_length > 0): METHODS.md's swav section
			Optional: []string{"embedding", "prototypes", "queue"},
			State:    lossState,
		},
	}
}

// New returns SwAV with the default multi-crop layout (2 global + 6 local
// crops); it still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return NewMultiCrop(LocalCrops) }

// NewMultiCrop returns SwAV with two global crops and locals local crops.
func NewMultiCrop(locals int) *methodkit.Method[Config] { return methodkit.New(Def(locals)) }

// Constructor makes fresh SwAV methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def(LocalCrops)) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// loss is SwappedLoss on role scores [ncrops·N, K] with params
// crops_for_assign and nmb_crops beside the config's.
func loss(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
	assign, err1 := p.Ints("crops_for_assign")
	crops, err2 := p.Ints("nmb_crops")
	ws, err3 := p.IntOr("world_size", 1)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	if ws != 1 {
		return nil, fmt.Errorf("world_size %d; only one process is supported", ws)
	}
	var ncrops int64
	for _, n := range crops {
		ncrops += n
	}
	if err := checkLayout(r["scores"], ncrops, assign); err != nil {
		return nil, err
	}
	var queued []*ts.Tensor
	if c.QueueLength > 0 {
		if err := checkQueue(r, c, ncrops, assign); err != nil {
			return nil, err
		}
		used, err := p.BoolOr("use_the_queue", false)
		if err != nil {
			return nil, err
		}
		s := tensor.NewScope()
		defer s.Close()
		nn.NoGrad(func() { queued = QueueScores(s, r["queue"], r["prototypes"], used) })
	}
	return SwappedLoss(r["scores"], ncrops, assign, c.Temperature, c.Epsilon, int(c.SinkhornIterations), queued), nil
}

// lossState is the queue after the step of the queue variant: each slot
// shifted by N with crop crops_for_assign[i]'s embeddings in front.
func lossState(r method.Tensors, c *Config, p method.Params) (method.Tensors, error) {
	if c.QueueLength <= 0 {
		return nil, nil
	}
	assign, err := p.Ints("crops_for_assign")
	if err != nil {
		return nil, err
	}
	crops, err := p.Ints("nmb_crops")
	if err != nil {
		return nil, err
	}
	var ncrops int64
	for _, n := range crops {
		ncrops += n
	}
	if err := checkQueue(r, c, ncrops, assign); err != nil {
		return nil, err
	}
	return method.Tensors{"queue": Refill(r["queue"], r["embedding"], assign, r["scores"].MustSize()[0]/ncrops)}, nil
}

// checkQueue checks the queue variant's roles: embedding [ncrops·N, D],
// prototypes [K, D] and queue [|assign|, L, D] with L = queue_length ≥ N.
func checkQueue(r method.Tensors, c *Config, ncrops int64, assign []int64) error {
	emb, proto, queue := r["embedding"], r["prototypes"], r["queue"]
	if emb == nil || proto == nil || queue == nil {
		return fmt.Errorf("queue_length %d: the queue variant needs roles embedding, prototypes and queue (METHODS.md, swav)", c.QueueLength)
	}
	rows, k := r["scores"].MustSize()[0], r["scores"].MustSize()[1]
	es, ps, qs := emb.MustSize(), proto.MustSize(), queue.MustSize()
	if len(es) != 2 || es[0] != rows || len(ps) != 2 || ps[0] != k || ps[1] != es[1] ||
		len(qs) != 3 || qs[0] != int64(len(assign)) || qs[1] != c.QueueLength || qs[2] != es[1] || qs[1] < rows/ncrops {
		return fmt.Errorf("embedding %v, prototypes %v, queue %v for scores [%d, %d]: want [ncrops·N, D], [K, D] and [%d, queue_length %d ≥ N, D]", es, ps, qs, rows, k, len(assign), c.QueueLength)
	}
	return nil
}

// QueueScores are the queued embeddings' scores queue[i] · prototypesᵀ
// [L, K] for each slot i of queue [S, L, D] that is in use, nil for the
// others: main_swav.py's use_the_queue, which turns on at the first slot
// whose last row is not all zero (or from the start when used is set) and
// stays on for the slots after it. They belong to s.
func QueueScores(s *tensor.Scope, queue, prototypes *ts.Tensor, used bool) []*ts.Tensor {
	qs := queue.MustSize()
	out := make([]*ts.Tensor, qs[0])
	wt := s.T(s.T(prototypes.MustDetach(false)).MustT(false))
	for i := range qs[0] {
		qi := s.T(queue.MustSelect(0, i, false))
		if !used {
			last := s.T(qi.MustSelect(0, qs[1]-1, false))
			used = nn.Item(s.T(s.T(last.MustAbs(false)).MustSum(gotch.Double, false))) != 0
		}
		if used {
			out[i] = s.T(qi.MustMatmul(wt, false))
		}
	}
	return out
}

// Refill returns the queue [S, L, D] after a step: slot i shifted by n
// rows (queue[i, n:] = queue[i, :L−n]) with crop assign[i]'s embeddings
// (rows assign[i]·n … of emb) in front, in the queue's dtype, without
// gradient. The caller owns the result.
func Refill(queue, emb *ts.Tensor, assign []int64, n int64) *ts.Tensor {
	var out *ts.Tensor
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		l := queue.MustSize()[1]
		parts := make([]*ts.Tensor, len(assign))
		for i, a := range assign {
			e := s.T(s.T(s.T(emb.MustNarrow(0, a*n, n, false)).MustDetach(false)).MustTotype(queue.DType(), false))
			old := s.T(s.T(queue.MustSelect(0, int64(i), false)).MustNarrow(0, 0, l-n, false))
			parts[i] = s.T(ts.MustCat([]*ts.Tensor{e, old}, 0))
		}
		out = ts.MustStack(parts, 0)
	})
	return out
}

func checkLayout(scores *ts.Tensor, ncrops int64, assign []int64) error {
	sz := scores.MustSize()
	if len(sz) != 2 || ncrops < 2 || sz[0]%ncrops != 0 || sz[0] == 0 {
		return fmt.Errorf("scores %v for %d crops: want [ncrops·N, K] with ncrops >= 2", sz, ncrops)
	}
	if len(assign) == 0 {
		return errors.New("crops_for_assign is empty")
	}
	for _, a := range assign {
		if a < 0 || a >= ncrops {
			return fmt.Errorf("crops_for_assign %v: crop %d outside [0, %d)", assign, a, ncrops)
		}
	}
	if dt := scores.DType(); dt != gotch.Float && dt != gotch.Double {
		return fmt.Errorf("scores are %v, want float", dt)
	}
	return nil
}

// Sinkhorn is main_swav.py's distributed_sinkhorn on one process: for
// scores x [B, K] it returns the codes [B, K] (rows sum to 1) after iters
// rounds of row (prototype) then column (sample) normalisation of
// exp(x/eps)ᵀ, without gradient. The caller owns the result.
func Sinkhorn(x *ts.Tensor, eps float64, iters int) *ts.Tensor {
	var out *ts.Tensor
	nn.NoGrad(func() {
		s := tensor.NewScope()
		defer s.Close()
		b, k := x.MustSize()[0], x.MustSize()[1]
		dt := x.DType()
		q := s.T(s.T(s.T(x.MustDetach(false)).MustDivScalar(ts.FloatScalar(eps), false)).MustExp(false))
		q = s.T(q.MustT(false)) // [K, B]
		q = s.T(q.MustDiv(s.T(q.MustSum(dt, false)), false))
		for range iters {
			rows := s.T(q.MustSumDimIntlist([]int64{1}, true, dt, false))
			q = s.T(s.T(q.MustDiv(rows, false)).MustDivScalar(ts.FloatScalar(float64(k)), false))
			cols := s.T(q.MustSumDimIntlist([]int64{0}, true, dt, false))
			q = s.T(s.T(q.MustDiv(cols, false)).MustDivScalar(ts.FloatScalar(float64(b)), false))
		}
		out = s.T(q.MustMulScalar(ts.FloatScalar(float64(b)), false)).MustT(false).MustContiguous(true)
	})
	return out
}

// SwappedLoss is METHODS.md's swav loss on scores [ncrops·N, K]
// (crop-major): for each crop a of assign, codes q_a = Sinkhorn of crop a's
// scores (with queued[i] [L, K], when not nil, prepended and only the last
// N codes kept), and sub_a = Σ_{v≠a} mean_n Σ_k −q_a · log_softmax(scores_v/τ);
// the loss is the mean over assign of sub_a/(ncrops−1). The caller owns the
// result.
func SwappedLoss(scores *ts.Tensor, ncrops int64, assign []int64, t, eps float64, iters int, queued []*ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n, k := scores.MustSize()[0]/ncrops, scores.MustSize()[1]
	dt := scores.DType()
	logp := s.T(s.T(scores.MustDivScalar(ts.FloatScalar(t), false)).MustLogSoftmax(1, dt, false))
	sd := s.T(scores.MustDetach(false))
	codes := make([]*ts.Tensor, len(assign))
	for i, a := range assign {
		x := s.T(sd.MustNarrow(0, a*n, n, false))
		if i < len(queued) && queued[i] != nil {
			x = s.T(ts.MustCat([]*ts.Tensor{queued[i], x}, 0))
		}
		q := s.T(Sinkhorn(x, eps, iters))
		codes[i] = s.T(q.MustNarrow(0, q.MustSize()[0]-n, n, false))
	}
	// cross[i, v] = Σ_n Σ_k q_{assign[i]}[n,k]·logp_v[n,k], for all pairs at once
	qm := s.T(s.T(ts.MustStack(codes, 0)).MustReshape([]int64{int64(len(assign)), n * k}, false))
	lm := s.T(logp.MustReshape([]int64{ncrops, n * k}, false))
	cross := s.T(qm.MustMm(s.T(lm.MustT(false)), false))
	mask := s.T(methodkit.PairMask(assign, ncrops, dt, scores.MustDevice()))
	total := s.T(s.T(cross.MustMul(mask, false)).MustSum(dt, false))
	return total.MustDivScalar(ts.FloatScalar(-float64(n)*float64(len(assign))*float64(ncrops-1)), false)
}

// step is a set-up SwAV: the projector, the prototypes and the queue.
type step struct {
	c         *Config
	views     []string // crop views in crop-major order, globals first
	dev       gotch.Device
	proj      *nn.MLP
	protoW    *ts.Tensor // [K, feat]
	queue     *ts.Tensor // [2, L, feat], nil until epoch_queue_starts
	queueUsed bool
	// this step's, for AfterUpdate
	useQueue bool
	emb      *ts.Tensor
}

// Forward: all crops' features through the projector in one BatchNorm
// batch (as the reference's multi-crop forward), L2 normalisation,
// prototypes normalised (training only) and applied, codes from the global
// crops (with the queue when it is full or in use), the swapped loss.
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	c, n := m.c, s.N
	if c.QueueLength > 0 && c.QueueLength < n {
		return nil, fmt.Errorf("queue_length %d is shorter than the batch %d; raise it or set 0", c.QueueLength, n)
	}
	if s.Train && c.QueueLength > 0 && m.queue == nil && float64(s.Heads.Epoch(s.Index, n)) >= c.EpochQueueStarts {
		// main_swav.py: "the queue needs to be divisible by the batch size"
		l := c.QueueLength - c.QueueLength%n
		m.queue = ts.MustZeros([]int64{GlobalCrops, l, c.FeatDim}, gotch.Float, m.dev)
	}
	xs := make([]*ts.Tensor, len(m.views))
	for i, v := range m.views {
		xs[i] = s.Leaf(method.FeatureKey(v, "pooled", false))
	}
	x := methodkit.ToHead(s.Scope, s.T(ts.MustCat(xs, 0)), s.Heads.Dev)
	emb := s.T(nn.Normalize(s.T(m.proj.Forward(x, s.Train))))
	w := m.protoW
	if s.Train {
		if err := normalizeInPlace(s.Scope, m.protoW); err != nil {
			return nil, err
		}
	} else {
		w = s.T(nn.Normalize(s.T(m.protoW.MustDetach(false))))
	}
	scores := s.T(emb.MustMatmul(s.T(w.MustT(false)), false))
	var queued []*ts.Tensor
	useQueue := false
	if m.queue != nil {
		nn.NoGrad(func() { queued = QueueScores(s.Scope, m.queue, w, m.queueUsed) })
		useQueue = queued[len(queued)-1] != nil
	}
	m.useQueue, m.emb = useQueue, emb
	s.Metric("prototypes_frozen", b2f(m.frozen(s)))
	s.Metric("queue_used", b2f(useQueue))
	return SwappedLoss(scores, int64(len(m.views)), []int64{0, 1}, c.Temperature, c.Epsilon, int(c.SinkhornIterations), queued), nil
}

func (m *step) frozen(s *methodkit.Step) bool { return s.Index < m.c.FreezeIters }

// Update steps the projector, and the prototypes once past
// freeze_prototypes_niters.
func (m *step) Update(s *methodkit.Step) error {
	if m.frozen(s) {
		return s.Heads.UpdateGroups(s.Heads.Groups()[0]) // the projector only
	}
	return s.Heads.Update()
}

// AfterUpdate refills the queue with this step's global embeddings.
func (m *step) AfterUpdate(s *methodkit.Step) error {
	if m.queue != nil {
		m.queueUsed = m.useQueue
		m.refill(m.emb, s.N)
	}
	m.emb = nil
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// normalizeInPlace sets w to normalize(w) row-wise outside autograd (the
// reference's per-iteration prototype normalisation).
func normalizeInPlace(s *tensor.Scope, w *ts.Tensor) error {
	var err error
	nn.NoGrad(func() {
		wn := s.T(nn.Normalize(s.T(w.MustDetach(false))))
		err = backend.Copy([]*ts.Tensor{w}, []*ts.Tensor{wn})
	})
	return err
}

// refill shifts each queue by the batch and puts the global crops'
// embeddings in front (queue[i, n:] = queue[i, :−n]; queue[i, :n] = emb_i).
func (m *step) refill(emb *ts.Tensor, n int64) {
	nq := Refill(m.queue, emb, []int64{0, 1}, n)
	m.queue.MustDrop()
	m.queue = nq
}

// SaveState adds the queue and whether it is in use.
func (m *step) SaveState(st *methodkit.State) {
	st.Ints["queue_used"] = int64(b2f(m.queueUsed))
	if m.queue != nil {
		st.Tensors["queue"] = m.queue
	}
}

// LoadState reads back what SaveState added.
func (m *step) LoadState(st *methodkit.State) error {
	used, err := st.Int("queue_used")
	if err != nil {
		return err
	}
	var nq *ts.Tensor
	if q, ok := st.Tensors["queue"]; ok {
		if sz := q.MustSize(); len(sz) != 3 || sz[0] != GlobalCrops || sz[1] < 1 || sz[1] > m.c.QueueLength || sz[2] != m.c.FeatDim {
			return fmt.Errorf("saved queue %v does not fit queue_length %d and feat_dim %d; set up with the saved config", sz, m.c.QueueLength, m.c.FeatDim)
		}
		nq = q.MustTo(m.dev, false).MustTotype(gotch.Float, true).MustContiguous(true)
	}
	m.Release()
	m.queue, m.queueUsed = nq, used != 0
	return nil
}

// Release frees the queue.
func (m *step) Release() {
	if m.queue != nil {
		m.queue.MustDrop()
		m.queue = nil
	}
}
