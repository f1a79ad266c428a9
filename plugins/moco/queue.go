package moco

import (
	"errors"
	"fmt"
	"math/rand/v2"

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

// MoCoConfig is the Fashion-MNIST scale-down of MoCo v2 used by the PyTorch
// reference. The paper's ImageNet setting is K 65536, T 0.2 (v2) or 0.07
// (v1) and momentum 0.999; mlp false gives v1's linear head. The head is
// the official one, Linear–ReLU–Linear without BatchNorm (moco/builder.py
// puts nn.ReLU between the trunk's fc layers). bn_splits is the Shuffle-BN
// of MoCo's one-GPU CIFAR-10 demo: query and key trunks normalise over 8
// interleaved splits of the batch (SplitBatchNorm) and the keys are
// shuffled before the key trunk and unshuffled after, so that a query and
// its key never share batch statistics (the leak Shuffle-BN exists to stop).
type MoCoConfig struct {
	T           float64 `param:"T" default:"0.2" doc:"InfoNCE temperature (> 0)"`
	K           int64   `param:"K" default:"4096" doc:"queue length in keys (> 0, at least a batch)"`
	Momentum    float64 `param:"momentum" default:"0.99" doc:"EMA momentum of the key head and trunk, in [0, 1]"`
	MLP         bool    `param:"mlp" default:"true" doc:"v2's head Linear-ReLU-Linear; false: v1's Linear"`
	BNSplits    int64   `param:"bn_splits" default:"8" doc:"Shuffle-BN: BatchNorm over this many splits of the batch in both trunks, keys shuffled (1: plain BatchNorm, no shuffle)"`
	ProjHidden  int64   `param:"proj_hidden" default:"128" doc:"hidden width of the MLP head"`
	ProjOut     int64   `param:"proj_out" default:"64" doc:"key width C"`
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the head"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the head"`
}

// Validate checks the config.
func (c *MoCoConfig) Validate() error {
	if c.T <= 0 || c.K <= 0 || c.Momentum < 0 || c.Momentum > 1 || c.BNSplits < 1 {
		return fmt.Errorf("T %v, K %d, momentum %v, bn_splits %d: want T > 0, K > 0, momentum in [0, 1], bn_splits >= 1", c.T, c.K, c.Momentum, c.BNSplits)
	}
	return nil
}

func (c *MoCoConfig) target() method.Target {
	return method.Target{Momentum: c.Momentum, Schedule: method.Constant, Shuffle: c.BNSplits > 1}
}

// MoCoDef is MoCo v1/v2 for the method kit: view v1 (recipe mocov2)
// through the trunk and the head, view v2 through the host's EMA trunk and
// the method's EMA key head; the normalised keys of every training step
// enter the queue.
var MoCoDef = methodkit.Def[MoCoConfig]{
	Name: MoCoName, Summary: "MoCo v1/v2: InfoNCE of queries against EMA keys and a queue of past keys",
	Spec: func(c *MoCoConfig) method.Spec {
		t := c.target()
		return method.Spec{Views: []method.View{
			{Name: "v1", Recipe: "mocov2", Online: true},
			{Name: "v2", Recipe: "mocov2", Target: true},
		}, Target: &t, BatchNormSplits: int(c.BNSplits)}
	},
	Build: buildMoCo,
	Loss: &methodkit.Loss[MoCoConfig]{
		Roles: []string{"q", "k", "queue"},
		Fn: func(r method.Tensors, c *MoCoConfig, p method.Params) (*ts.Tensor, error) {
			q, queue := r["q"], r["queue"]
			if err := matrices(map[string]*ts.Tensor{"q": q, "k": r["k"], "queue": queue}, [2]string{"q", "k"}); err != nil {
				return nil, err
			}
			ptr, err := p.Int("queue_ptr")
			if err != nil {
				return nil, err
			}
			n, ch := q.MustSize()[0], q.MustSize()[1]
			if qs := queue.MustSize(); qs[0] != ch || qs[1] != c.K {
				return nil, fmt.Errorf("queue has shape %v, want [C, K] = [%d, %d]", qs, ch, c.K)
			}
			if ptr < 0 || ptr >= c.K || n > c.K {
				return nil, fmt.Errorf("queue_ptr %d, batch %d, K %d: want 0 <= queue_ptr < K, batch <= K", ptr, n, c.K)
			}
			return QueueLoss(q, r["k"], queue, c.T), nil
		},
		// the queue with the normalised keys enqueued, and the next pointer
		State: func(r method.Tensors, _ *MoCoConfig, p method.Params) (method.Tensors, error) {
			ptr, err := p.Int("queue_ptr")
			if err != nil {
				return nil, err
			}
			kn := nn.Normalize(r["k"])
			defer kn.MustDrop()
			q, next := Enqueue(r["queue"], kn, ptr)
			pt, err := tensor.FromInt64([]int64{next}, 1)
			if err != nil {
				q.MustDrop()
				return nil, err
			}
			return method.Tensors{"queue": q, "queue_ptr": pt}, nil
		},
	},
}

// NewMoCo returns a MoCo method that still needs Setup (Loss works at once).
func NewMoCo() *methodkit.Method[MoCoConfig] { return methodkit.New(MoCoDef) }

// MoCoConstructor makes fresh MoCo v1/v2 methods.
func MoCoConstructor() method.Constructor { return methodkit.Constructor(MoCoDef) }

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

type mocoStep struct {
	c           MoCoConfig
	head, keyHd *nn.MLP
	queue       *ts.Tensor // [C, K], unit columns
	ptr         int64
	keys        *ts.Tensor // this step's keys, for AfterUpdate (freed with the step)
}

// buildMoCo makes the query head, its EMA key head, Adam, and a random
// queue of unit keys, all from the seeded source in that order.
func buildMoCo(h *methodkit.Heads, c *MoCoConfig) (methodkit.Stepper, error) {
	cfg := nn.MLPConfig{Dims: []int64{h.Dim, c.ProjHidden, c.ProjOut}} // no BatchNorm, as moco/builder.py
	if !c.MLP {
		cfg = nn.MLPConfig{Dims: []int64{h.Dim, c.ProjOut}}
	}
	m := &mocoStep{c: *c}
	var err error
	if m.head, err = nn.NewMLP(h.Sub("proj"), h.Rng, cfg); err != nil {
		return m, err
	}
	err = h.EMATarget(func(p *gnn.Path) (err error) {
		m.keyHd, err = nn.NewMLP(p.Sub("proj"), h.Rng, cfg)
		return err
	})
	if err != nil {
		return m, err
	}
	if err := h.Adam(c.LR, c.WeightDecay); err != nil {
		return m, err
	}
	m.queue, err = unitQueue(h.Rng, h.Dev, c.ProjOut, c.K)
	return m, err
}

// unitQueue is normalize(randn(C, K), dim=0), as the reference.
func unitQueue(rng *rand.Rand, dev gotch.Device, c, k int64) (*ts.Tensor, error) {
	q, err := nn.Normal(rng, dev, c, k)
	if err != nil {
		return nil, err
	}
	s := tensor.NewScope()
	defer s.Close()
	qt := s.T(s.T(q.MustTotype(gotch.Float, true)).MustT(false))
	return nn.Normalize(qt).MustT(true).MustContiguous(true), nil
}

// Forward: query head on v1, EMA update of the key head (training only,
// before the key forward, as the reference), key head on v2's target
// features, QueueLoss against the queue.
func (m *mocoStep) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	if s.N > m.c.K {
		return nil, fmt.Errorf("a batch of %d is larger than the queue (K %d)", s.N, m.c.K)
	}
	q := s.T(m.head.Forward(s.Online("v1"), s.Train))
	if _, err := s.EMA(m.c.target()); err != nil { // before the key forward, as the reference
		return nil, err
	}
	m.keys = s.T(m.keyHd.Forward(s.Target("v2"), s.Train))
	return QueueLoss(q, m.keys, m.queue, m.c.T), nil
}

// AfterUpdate enqueues the step's normalised keys.
func (m *mocoStep) AfterUpdate(s *methodkit.Step) error {
	q, next := Enqueue(m.queue, s.T(nn.Normalize(m.keys)), m.ptr)
	m.queue.MustDrop()
	m.queue, m.ptr, m.keys = q, next, nil
	return nil
}

func (m *mocoStep) SaveState(st *methodkit.State) {
	st.Tensors["queue"] = m.queue
	st.Ints["queue_ptr"] = m.ptr
}

func (m *mocoStep) LoadState(st *methodkit.State) error {
	q, err1 := st.Tensor("queue")
	ptr, err2 := st.Int("queue_ptr")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if s := q.MustSize(); len(s) != 2 || s[1] != m.c.K || ptr < 0 || ptr >= m.c.K {
		return fmt.Errorf("saved queue %v with pointer %d does not fit K = %d; set up with the saved config", s, ptr, m.c.K)
	}
	nq := q.MustTo(m.queue.MustDevice(), false).MustTotype(gotch.Float, true).MustContiguous(true)
	m.queue.MustDrop()
	m.queue, m.ptr = nq, ptr
	return nil
}

func (m *mocoStep) Release() {
	if m.queue != nil {
		m.queue.MustDrop()
		m.queue = nil
	}
}
