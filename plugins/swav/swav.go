// Package swav is SwAV (Caron et al. 2020): online clustering of the
// projected crops onto L2-normalised prototypes, with codes from a few
// Sinkhorn-Knopp iterations on the global crops and a swapped prediction
// of every other crop (multi-crop), an optional queue of past embeddings
// for the codes, and prototypes frozen for the first iterations. Import it
// to run SwAV in process, or serve it with the plugin binary in
// cmd/selfsup-swav.
package swav

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

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

// Constructor makes fresh SwAV methods.
func Constructor() method.Constructor {
	return method.Constructor{
		Name:    Name,
		Summary: "SwAV: swapped prediction of Sinkhorn-Knopp prototype codes across multi-crop views",
		New:     func() method.Method { return New() },
	}
}

// Constructors lists the family's methods (for plugin.Serve).
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }

// Defaults follow facebookresearch/swav's main_swav.py (temperature 0.1,
// epsilon 0.05, 3 Sinkhorn iterations, codes from crops 0 and 1, 128-d
// features, freeze_prototypes_niters 313, epoch_queue_starts 15,
// queue_length 0 = no queue), scaled to Fashion-MNIST: projector
// Linear(D,512)-BN-ReLU-Linear(512,128) (the reference's hidden_mlp is 2048
// for a 2048-d ResNet-50), 300 prototypes (3000 for ImageNet's 1000
// classes), and Adam at lr 1e-3 with weight decay 1e-6 for the heads (the
// reference trains everything with LARS).
func Defaults() method.Params {
	return method.Params{
		"temperature": 0.1, "epsilon": 0.05, "sinkhorn_iterations": int64(3),
		"proj_hidden": int64(512), "feat_dim": int64(128), "nmb_prototypes": int64(300),
		"freeze_prototypes_niters": int64(313),
		"queue_length":             int64(0), "epoch_queue_starts": 15.0,
		"lr": 1e-3, "weight_decay": 1e-6,
	}
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

// config is the merged, checked configuration.
type config struct {
	t, eps, lr, wd, queueStart float64
	iters                      int
	hidden, feat, protos       int64
	freezeIters, queueLen      int64
}

func readConfig(over method.Params) (config, error) {
	p, err := methodkit.Params(Name, Defaults(), over)
	if err != nil {
		return config{}, err
	}
	var c config
	var errs [11]error
	var iters int64
	c.t, errs[0] = p.Float("temperature")
	c.eps, errs[1] = p.Float("epsilon")
	iters, errs[2] = p.Int("sinkhorn_iterations")
	c.hidden, errs[3] = p.Int("proj_hidden")
	c.feat, errs[4] = p.Int("feat_dim")
	c.protos, errs[5] = p.Int("nmb_prototypes")
	c.freezeIters, errs[6] = p.Int("freeze_prototypes_niters")
	c.queueLen, errs[7] = p.Int("queue_length")
	c.queueStart, errs[8] = p.Float("epoch_queue_starts")
	c.lr, errs[9] = p.Float("lr")
	c.wd, errs[10] = p.Float("weight_decay")
	if err := errors.Join(errs[:]...); err != nil {
		return c, fmt.Errorf("swav: %w", err)
	}
	c.iters = int(iters)
	if c.t <= 0 || c.eps <= 0 || iters < 1 || c.protos < 2 || c.queueLen < 0 || c.freezeIters < 0 {
		return c, fmt.Errorf("swav: temperature %v, epsilon %v, sinkhorn_iterations %d, nmb_prototypes %d, queue_length %d, freeze_prototypes_niters %d: want positive temperature and epsilon, at least one iteration and two prototypes, no negative lengths", c.t, c.eps, iters, c.protos, c.queueLen, c.freezeIters)
	}
	return c, nil
}

// Method is SwAV. The projector lives in h (with its Adam); the prototypes
// have their own store and Adam, so that freezing them skips their update
// entirely, as the reference's p.grad = None does.
type Method struct {
	h         nn.Heads
	cfg       config
	views     []string // crop views in crop-major order, globals first
	nData     int64
	proj      *nn.MLP
	protoVS   *gnn.VarStore
	protoW    *ts.Tensor // [K, feat]
	protoOpt  optim.Optimizer
	queue     *ts.Tensor // [2, L, feat], nil until epoch_queue_starts
	queueUsed bool
}

// New returns SwAV with the default multi-crop layout (2 global + 6 local
// crops); it still needs Setup (Loss works at once).
func New() *Method { return NewMultiCrop(LocalCrops) }

// NewMultiCrop returns SwAV with two global crops and locals local crops.
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

// Spec: two global crops with SimCLR's recipe (SwAV's crop, flip, colour
// distortion of strength 1, blur) at the data's size and the local crops
// with DINO's local recipe (scale 0.05–0.4 at 96/224 of the side), all
// through the trunk, pooled tap.
func (m *Method) Spec() method.Spec {
	var views []method.View
	for i, v := range m.views {
		recipe := "simclr"
		if i >= GlobalCrops {
			recipe = "dino-local"
		}
		views = append(views, method.View{Name: v, Recipe: recipe, Online: true})
	}
	return method.Spec{Name: Name, Views: views, Defaults: Defaults()}
}

// Setup builds the projector, the prototypes (nn.Linear's init, no bias)
// and their optimizers from req.Seed.
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
	m.proj, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, nn.Projector(m.h.Dim, cfg.hidden, cfg.feat))
	if err == nil {
		err = m.h.Finish(cfg.lr, cfg.wd, nil)
	}
	if err == nil {
		m.protoVS = gnn.NewVarStore(m.h.Dev)
		var l *nn.Linear
		if l, err = nn.NewLinear(m.protoVS.Root().Sub("prototypes"), rng, cfg.feat, cfg.protos, false); err == nil {
			m.protoW = l.W
			m.protoOpt, err = optim.New(optim.Config{Name: "adam", LR: cfg.lr, WeightDecay: cfg.wd}, optim.DecayAll(optim.Params(m.protoVS)))
		}
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("swav setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS) + nn.NumParams(m.protoVS)}, nil
}

// Loss evaluates SwappedLoss on role scores [ncrops·N, K] with params
// temperature, epsilon, sinkhorn_iterations, crops_for_assign and nmb_crops.
func (m *Method) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err1 := in.Params.Float("temperature")
	eps, err2 := in.Params.Float("epsilon")
	iters, err3 := in.Params.Int("sinkhorn_iterations")
	assign, err4 := in.Params.Ints("crops_for_assign")
	crops, err5 := in.Params.Ints("nmb_crops")
	ws, err6 := in.Params.IntOr("world_size", 1)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return method.LossOutput{}, fmt.Errorf("swav loss: %w", err)
	}
	if ws != 1 {
		return method.LossOutput{}, fmt.Errorf("swav loss: world_size %d; only one process is supported", ws)
	}
	var ncrops int64
	for _, c := range crops {
		ncrops += c
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "scores")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("swav loss: %w", err)
	}
	defer l.Drop()
	scores := l.T("scores")
	if err := checkLayout(scores, ncrops, assign); err != nil {
		return method.LossOutput{}, fmt.Errorf("swav loss: %w", err)
	}
	if t <= 0 || eps <= 0 || iters < 0 {
		return method.LossOutput{}, fmt.Errorf("swav loss: temperature %v, epsilon %v, sinkhorn_iterations %d: want positive values", t, eps, iters)
	}
	loss := SwappedLoss(scores, ncrops, assign, t, eps, int(iters), nil)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("swav loss: %w", err)
	}
	return method.LossOutput{Loss: nn.Item(loss), Grads: grads, State: method.Tensors{}}, nil
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

// epoch is the epoch of a step for batches of n (NumSamples/n steps per
// epoch, dropping the last partial batch as the host does); 0 when the
// data set's size is unknown.
func (m *Method) epoch(step, n int64) float64 {
	if m.nData < n || n <= 0 {
		return 0
	}
	return math.Floor(float64(step) / float64(m.nData/n))
}

// Step: all crops' features through the projector in one BatchNorm batch
// (as the reference's multi-crop forward), L2 normalisation, prototypes
// normalised (training only) and applied, codes from the global crops
// (with the queue when it is full or in use), the swapped loss, the
// projector update, the prototypes' update once past
// freeze_prototypes_niters, and the queue refill.
func (m *Method) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	keys := make([]string, len(m.views))
	feats := make([]*ts.Tensor, len(m.views))
	for i, v := range m.views {
		keys[i] = method.FeatureKey(v, "pooled", false)
		f, err := req.Features.Get(keys[i])
		if err != nil {
			return method.StepResponse{}, fmt.Errorf("swav step: %w; the host must send the views of the Spec", err)
		}
		sz := f.MustSize()
		if len(sz) != 2 || sz[1] != m.h.Dim || (i > 0 && sz[0] != feats[0].MustSize()[0]) || (f.DType() != gotch.Float && f.DType() != gotch.Double) {
			return method.StepResponse{}, fmt.Errorf("swav step: feature %s is %v %v, want float [N, %d] with one N for every crop", keys[i], f.DType(), sz, m.h.Dim)
		}
		feats[i] = f
	}
	n := feats[0].MustSize()[0]
	if m.cfg.queueLen > 0 && m.cfg.queueLen < n {
		return method.StepResponse{}, fmt.Errorf("swav step: queue_length %d is shorter than the batch %d; raise it or set 0", m.cfg.queueLen, n)
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	if req.Train && m.cfg.queueLen > 0 && m.queue == nil && m.epoch(req.Step, n) >= m.cfg.queueStart {
		m.queue = ts.MustZeros([]int64{GlobalCrops, m.cfg.queueLen, m.cfg.feat}, gotch.Float, m.h.Dev)
	}
	leaves := make([]*ts.Tensor, len(feats))
	for i, f := range feats {
		leaves[i] = s.T(nn.Leaf(f))
	}
	x := s.T(s.T(ts.MustCat(leaves, 0)).MustTo(m.h.Dev, false).MustTotype(gotch.Float, true))
	emb := s.T(nn.Normalize(s.T(m.proj.Forward(x, req.Train))))
	w := m.protoW
	if req.Train {
		if err := normalizeInPlace(s, m.protoW); err != nil {
			return method.StepResponse{}, fmt.Errorf("swav step: %w", err)
		}
	} else {
		w = s.T(nn.Normalize(s.T(m.protoW.MustDetach(false))))
	}
	scores := s.T(emb.MustMatmul(s.T(w.MustT(false)), false))
	var queued []*ts.Tensor
	useQueue := m.queue != nil && (m.queueUsed || m.queueFull(s))
	if useQueue {
		nn.NoGrad(func() {
			wd := s.T(w.MustDetach(false))
			for i := range GlobalCrops {
				qi := s.T(m.queue.MustSelect(0, int64(i), false))
				queued = append(queued, s.T(qi.MustMatmul(s.T(wd.MustT(false)), false)))
			}
		})
	}
	assign := []int64{0, 1}
	loss := s.T(SwappedLoss(scores, int64(len(m.views)), assign, m.cfg.t, m.cfg.eps, m.cfg.iters, queued))
	m.h.Opt.ZeroGrad()
	m.protoOpt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("swav step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	frozen := req.Step < m.cfg.freezeIters
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
		if !frozen {
			if err := m.protoOpt.Step(); err != nil {
				return method.StepResponse{}, fmt.Errorf("swav step: prototypes: %w", err)
			}
		}
		if m.queue != nil {
			m.queueUsed = useQueue
			m.refill(s, emb, n)
		}
	}
	g := method.Tensors{}
	for i, l := range leaves {
		gi, err := nn.Grad(l)
		if err != nil {
			g.Drop()
			return method.StepResponse{}, fmt.Errorf("swav step: %w", err)
		}
		g[keys[i]] = gi
	}
	metrics := map[string]float64{"prototypes_frozen": b2f(frozen), "queue_used": b2f(useQueue)}
	return method.StepResponse{Loss: value, Metrics: metrics, Grads: g}, nil
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

// queueFull reports whether the queue's last rows are filled (the
// reference starts using it once queue[i, −1] is not all zero).
func (m *Method) queueFull(s *tensor.Scope) bool {
	last := s.T(m.queue.MustSelect(1, m.cfg.queueLen-1, false))
	nz := s.T(s.T(last.MustAbs(false)).MustSum(gotch.Double, false))
	return nn.Item(nz) != 0
}

// refill shifts each queue by the batch and puts the global crops'
// embeddings in front (queue[i, n:] = queue[i, :−n]; queue[i, :n] = emb_i).
func (m *Method) refill(s *tensor.Scope, emb *ts.Tensor, n int64) {
	nn.NoGrad(func() {
		var parts []*ts.Tensor
		for i := range int64(GlobalCrops) {
			e := s.T(s.T(emb.MustNarrow(0, i*n, n, false)).MustDetach(false))
			old := s.T(s.T(m.queue.MustSelect(0, i, false)).MustNarrow(0, 0, m.cfg.queueLen-n, false))
			parts = append(parts, s.T(ts.MustCat([]*ts.Tensor{e, old}, 0)))
		}
		nq := ts.MustStack(parts, 0)
		m.queue.MustDrop()
		m.queue = nq
	})
}

// Save writes the projector, the prototypes, both optimizers, the step
// counts and the queue.
func (m *Method) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.h.Ready(); err != nil {
		return nil, err
	}
	ost, optStep, err := m.protoOpt.State()
	if err != nil {
		return nil, fmt.Errorf("swav save: prototype optimizer: %w", err)
	}
	defer method.Tensors(ost).Drop()
	return m.h.Save(func(st *nn.State) {
		st.AddVars("proto/", m.protoVS)
		st.AddTensors("proto_opt/", ost)
		st.Ints["proto_opt_step"] = optStep
		st.Ints["queue_used"] = int64(b2f(m.queueUsed))
		if m.queue != nil {
			st.Tensors["queue"] = m.queue
		}
	})
}

// Load restores what Save wrote into a method set up with the same config.
func (m *Method) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, func(st *nn.State) error {
		optStep, err1 := st.Int("proto_opt_step")
		used, err2 := st.Int("queue_used")
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		var nq *ts.Tensor
		if q, ok := st.Tensors["queue"]; ok {
			if sz := q.MustSize(); len(sz) != 3 || sz[1] != m.cfg.queueLen || sz[2] != m.cfg.feat {
				return fmt.Errorf("saved queue %v does not fit queue_length %d and feat_dim %d; set up with the saved config", sz, m.cfg.queueLen, m.cfg.feat)
			}
			nq = q.MustTo(m.h.Dev, false).MustTotype(gotch.Float, true).MustContiguous(true)
		}
		if err := st.LoadVars("proto/", m.protoVS); err != nil {
			return err
		}
		if err := m.protoOpt.SetState(st.Prefixed("proto_opt/"), optStep); err != nil {
			return err
		}
		if m.queue != nil {
			m.queue.MustDrop()
		}
		m.queue, m.queueUsed = nq, used != 0
		return nil
	})
}

// Close frees the heads, the prototypes, the optimizers and the queue.
func (m *Method) Close() error {
	m.h.Release()
	m.release()
	return nil
}

func (m *Method) release() {
	if m.protoOpt != nil {
		m.protoOpt.Close()
		m.protoOpt = nil
	}
	if m.protoVS != nil {
		m.protoVS.Destroy()
		m.protoVS = nil
	}
	if m.queue != nil {
		m.queue.MustDrop()
		m.queue = nil
	}
	m.proj, m.protoW, m.queueUsed = nil, nil, false
}
