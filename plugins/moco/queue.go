package moco

import (
	"context"
	"fmt"
	"math"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MoCoName is the id of MoCo v1/v2.
const MoCoName = "moco"

// MoCoConstructor makes fresh MoCo v1/v2 methods.
func MoCoConstructor() method.Constructor {
	return method.Constructor{
		Name:    MoCoName,
		Summary: "MoCo v1/v2: InfoNCE of queries against EMA keys and a queue of past keys",
		New:     func() method.Method { return NewMoCo() },
	}
}

// MoCoDefaults is the Fashion-MNIST scale-down of MoCo v2 used by the
// PyTorch reference (queue 4096, T 0.2, key momentum 0.99, head
// Linear(D,128)-BN-ReLU-Linear(128,64), Adam lr 1e-3, weight decay 1e-6).
// The paper's ImageNet setting is K 65536, T 0.2 (v2) or 0.07 (v1) and
// momentum 0.999; mlp false gives v1's linear head.
func MoCoDefaults() method.Params {
	return method.Params{
		"T": 0.2, "K": int64(4096), "momentum": 0.99, "mlp": true,
		"proj_hidden": int64(128), "proj_out": int64(64),
		"lr": 1e-3, "weight_decay": 1e-6,
	}
}

// QueueLoss is the loss of METHODS.md's moco section: with q̂, k̂ the
// normalised queries and keys, the logits of row i are
// [q̂_i·k̂_i, q̂_i·queue[:,0], …, q̂_i·queue[:,K−1]] / T and the loss is the
// mean CE with the positive at column 0. queue is [C, K] with unit columns,
// used as is. It computes in q's dtype; the caller owns the result.
func QueueLoss(q, k, queue *ts.Tensor, t float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	qn := s.T(nn.Normalize(q))
	kn := s.T(nn.Normalize(k))
	pos := s.T(s.T(qn.MustMul(kn, false)).MustSumDimIntlist([]int64{1}, true, qn.DType(), false))
	neg := s.T(qn.MustMatmul(queue, false))
	logits := s.T(ts.MustCat([]*ts.Tensor{pos, neg}, 1))
	logits = s.T(logits.MustDivScalar(ts.FloatScalar(t), false))
	zeros := s.T(ts.MustZeros([]int64{q.MustSize()[0]}, gotch.Int64, q.MustDevice()))
	return nn.CrossEntropy(logits, zeros)
}

// Enqueue returns the queue [C, K] with columns ptr, ptr+1, … (mod K)
// replaced by keys [N, C] (already normalised, no gradient), and the next
// pointer (ptr + N) mod K. The caller owns the new queue.
func Enqueue(queue, keys *ts.Tensor, ptr int64) (*ts.Tensor, int64) {
	n := keys.MustSize()[0]
	k := queue.MustSize()[1]
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = (ptr + int64(i)) % k
	}
	cols, err := tensor.FromInt64(idx, n)
	if err != nil {
		panic(err) // the length always fills the shape
	}
	cols = cols.MustTo(queue.MustDevice(), true)
	defer cols.MustDrop()
	kt := keys.MustT(false)
	defer kt.MustDrop()
	kt = kt.MustTotype(queue.DType(), false)
	defer kt.MustDrop()
	return queue.MustIndexCopy(1, cols, kt, false), (ptr + n) % k
}

// MoCo is MoCo v1/v2: the query view goes through the trunk and the head,
// the key view through the host's EMA trunk and the method's EMA head, and
// the normalised keys of every training step enter the queue.
type MoCo struct {
	h           nn.Heads // heads, optimizer and counters
	t, momentum float64
	head, keyHd *nn.MLP
	queue       *ts.Tensor // [C, K], unit columns
	ptr, k      int64
}

// NewMoCo returns a MoCo method that still needs Setup (Loss works at once).
func NewMoCo() *MoCo { return &MoCo{h: nn.Heads{Name: MoCoName}, momentum: 0.99} }

var (
	mocoQuery = method.FeatureKey("v1", "pooled", false)
	mocoKey   = method.FeatureKey("v2", "pooled", true)
)

// Spec: view v1 (recipe mocov2) through the trunk, view v2 through its EMA
// target, pooled tap.
func (m *MoCo) Spec() method.Spec {
	return method.Spec{
		Name: MoCoName,
		Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Target: true},
		},
		Target:   &method.Target{Momentum: m.momentum, Schedule: method.Constant},
		Defaults: MoCoDefaults(),
	}
}

// Setup builds the query head, its EMA key head, the Adam optimizer and a
// random queue of unit keys, all from req.Seed.
func (m *MoCo) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.SetupResponse{}, err
	}
	p, err := methodkit.Params(MoCoName, MoCoDefaults(), req.Config)
	if err != nil {
		return method.SetupResponse{}, err
	}
	var c struct {
		t, mom, lr, wd float64
		k, hidden, out int64
		mlp            bool
	}
	var errs [8]error
	c.t, errs[0] = p.Float("T")
	c.mom, errs[1] = p.Float("momentum")
	c.lr, errs[2] = p.Float("lr")
	c.wd, errs[3] = p.Float("weight_decay")
	c.k, errs[4] = p.Int("K")
	c.hidden, errs[5] = p.Int("proj_hidden")
	c.out, errs[6] = p.Int("proj_out")
	c.mlp, errs[7] = p.BoolOr("mlp", true)
	for _, e := range errs {
		if e != nil {
			return method.SetupResponse{}, fmt.Errorf("moco setup: %w", e)
		}
	}
	if c.t <= 0 || c.k <= 0 || c.mom < 0 || c.mom > 1 {
		return method.SetupResponse{}, fmt.Errorf("moco setup: T %v, K %d, momentum %v: want T > 0, K > 0, momentum in [0, 1]", c.t, c.k, c.mom)
	}
	if err := m.h.Setup(req); err != nil {
		return method.SetupResponse{}, err
	}
	m.t, m.momentum, m.k, m.ptr = c.t, c.mom, c.k, 0
	cfg := nn.Projector(m.h.Dim, c.hidden, c.out)
	if !c.mlp {
		cfg = nn.MLPConfig{Dims: []int64{m.h.Dim, c.out}}
	}
	rng := nn.NewRand(req.Seed)
	if m.head, err = nn.NewMLP(m.h.VS.Root().Sub("proj"), rng, cfg); err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("moco setup: %w", err)
	}
	err = m.h.Finish(c.lr, c.wd, func(vs *gnn.VarStore) error {
		var err error
		m.keyHd, err = nn.NewMLP(vs.Root().Sub("proj"), rng, cfg)
		return err
	})
	if err == nil {
		var q *ts.Tensor
		if q, err = nn.Normal(rng, m.h.Dev, c.out, c.k); err == nil {
			m.queue = q.MustTotype(gotch.Float, true)
			// unit columns, as the reference: normalize(randn(C, K), dim=0)
			qt := m.queue.MustT(false)
			qn := nn.Normalize(qt)
			qt.MustDrop()
			m.queue.MustDrop()
			m.queue = qn.MustT(true).MustContiguous(true)
		}
	}
	if err != nil {
		m.Close()
		return method.SetupResponse{}, fmt.Errorf("moco setup: %w", err)
	}
	return method.SetupResponse{Parameters: nn.NumParams(m.h.VS)}, nil
}

// Loss evaluates QueueLoss on roles q, k [N, C] and queue [C, K] with params
// T, K and queue_ptr, and returns the enqueued queue and the next pointer as
// state.
func (m *MoCo) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	if err := ctx.Err(); err != nil {
		return method.LossOutput{}, err
	}
	t, err1 := in.Params.Float("T")
	k, err2 := in.Params.Int("K")
	ptr, err3 := in.Params.Int("queue_ptr")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return method.LossOutput{}, fmt.Errorf("moco loss: %w", e)
		}
	}
	defer nn.Autograd()()
	l, err := nn.NewLeaves(in, "q", "k", "queue")
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("moco loss: %w", err)
	}
	defer l.Drop()
	q, key, queue := l.T("q"), l.T("k"), l.T("queue")
	if err := matrices(MoCoName, map[string]*ts.Tensor{"q": q, "k": key, "queue": queue}, [2]string{"q", "k"}); err != nil {
		return method.LossOutput{}, err
	}
	n, c := q.MustSize()[0], q.MustSize()[1]
	if qs := queue.MustSize(); qs[0] != c || qs[1] != k {
		return method.LossOutput{}, fmt.Errorf("moco loss: queue has shape %v, want [C, K] = [%d, %d]", qs, c, k)
	}
	if t <= 0 || ptr < 0 || ptr >= k || n > k {
		return method.LossOutput{}, fmt.Errorf("moco loss: T %v, queue_ptr %d, batch %d, K %d: want T > 0, 0 <= queue_ptr < K, batch <= K", t, ptr, n, k)
	}
	loss := QueueLoss(q, key, queue, t)
	defer loss.MustDrop()
	loss.MustBackward()
	grads, err := l.Grads()
	if err != nil {
		return method.LossOutput{}, fmt.Errorf("moco loss: %w", err)
	}
	var newQ *ts.Tensor
	var next int64
	nn.NoGrad(func() {
		kd := key.MustDetach(false)
		kn := nn.Normalize(kd)
		qd := queue.MustDetach(false)
		newQ, next = Enqueue(qd, kn, ptr)
		kd.MustDrop()
		kn.MustDrop()
		qd.MustDrop()
	})
	ptrT, err := tensor.FromInt64([]int64{next}, 1)
	if err != nil {
		grads.Drop()
		newQ.MustDrop()
		return method.LossOutput{}, err
	}
	return method.LossOutput{
		Loss:  nn.Item(loss),
		Grads: grads,
		State: method.Tensors{"queue": newQ, "queue_ptr": ptrT},
	}, nil
}

// Step: query head on v1, EMA update of the key head (training only, before
// the key forward, as the reference), key head on v2's target features,
// QueueLoss against the queue, head update, enqueue of the normalised keys.
func (m *MoCo) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if err := ctx.Err(); err != nil {
		return method.StepResponse{}, err
	}
	if err := m.h.Ready(); err != nil {
		return method.StepResponse{}, err
	}
	fq, err := methodkit.Feature(MoCoName, req, mocoQuery, m.h.Dim, 1)
	if err != nil {
		return method.StepResponse{}, err
	}
	fk, err := methodkit.Feature(MoCoName, req, mocoKey, m.h.Dim, 1)
	if err != nil {
		return method.StepResponse{}, err
	}
	n := fq.MustSize()[0]
	if fk.MustSize()[0] != n || n > m.k {
		return method.StepResponse{}, fmt.Errorf("moco step: %d queries, %d keys, queue of %d: want as many keys as queries and a batch no larger than K", n, fk.MustSize()[0], m.k)
	}
	defer nn.Autograd()()
	s := tensor.NewScope()
	defer s.Close()
	lq := s.T(nn.Leaf(fq))
	q := s.T(m.head.Forward(methodkit.ToHead(s, lq, m.h.Dev), req.Train))
	mom := method.Target{Momentum: m.momentum}.MomentumAt(req.Step, m.h.Total)
	if req.Train {
		if err := nn.EMA(m.h.Target, m.h.VS, mom, nn.KeepBuffers); err != nil {
			return method.StepResponse{}, fmt.Errorf("moco step: %w", err)
		}
	}
	xk := methodkit.ToHead(s, s.T(fk.MustDetach(false)), m.h.Dev)
	k := s.T(m.keyHd.Forward(xk, req.Train))
	loss := s.T(QueueLoss(q, k, m.queue, m.t))
	m.h.Opt.ZeroGrad()
	loss.MustBackward()
	value := nn.Item(loss)
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return method.StepResponse{}, fmt.Errorf("moco step %d: loss is %v; lower the learning rate or check the features", req.Step, value)
	}
	if req.Train {
		if err := m.h.Update(); err != nil {
			return method.StepResponse{}, err
		}
		kn := s.T(nn.Normalize(k))
		q, next := Enqueue(m.queue, kn, m.ptr)
		m.queue.MustDrop()
		m.queue, m.ptr = q, next
	}
	g, err := methodkit.Grads([]string{mocoQuery}, []*ts.Tensor{lq})
	if err != nil {
		return method.StepResponse{}, fmt.Errorf("moco step: %w", err)
	}
	return method.StepResponse{Loss: value, Metrics: map[string]float64{"momentum": mom}, Grads: g}, nil
}

// Save writes the heads, the optimizer, the queue and its pointer.
func (m *MoCo) Save(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.h.Save(func(st *nn.State) {
		st.Tensors["queue"] = m.queue
		st.Ints["queue_ptr"] = m.ptr
	})
}

// Load restores what Save wrote into a method set up with the same config.
func (m *MoCo) Load(ctx context.Context, state []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.h.Load(state, func(st *nn.State) error {
		q, err := st.Tensor("queue")
		if err != nil {
			return err
		}
		ptr, err := st.Int("queue_ptr")
		if err != nil {
			return err
		}
		if s := q.MustSize(); len(s) != 2 || s[1] != m.k || ptr < 0 || ptr >= m.k {
			return fmt.Errorf("saved queue %v with pointer %d does not fit K = %d; set up with the saved config", s, ptr, m.k)
		}
		nq := q.MustTo(m.h.Dev, false).MustTotype(gotch.Float, true).MustContiguous(true)
		m.queue.MustDrop()
		m.queue, m.ptr = nq, ptr
		return nil
	})
}

// Close frees the heads, the optimizer and the queue.
func (m *MoCo) Close() error {
	m.h.Release()
	if m.queue != nil {
		m.queue.MustDrop()
		m.queue = nil
	}
	m.head, m.keyHd = nil, nil
	return nil
}
