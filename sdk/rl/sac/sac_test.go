package sac

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// The tests below recompute SAC's pieces in float64 from the networks'
// weights, as curl_sac.py writes them, and compare with the agent's.

func vals(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rows(v []float64, n int) [][]float64 {
	out := make([][]float64, n)
	d := len(v) / n
	for i := range out {
		out[i] = v[i*d : (i+1)*d]
	}
	return out
}

func fromRows(t *testing.T, r [][]float64) *ts.Tensor {
	t.Helper()
	var flat []float32
	for _, x := range r {
		for _, v := range x {
			flat = append(flat, float32(v))
		}
	}
	x, err := tensor.FromFloat32(flat, int64(len(r)), int64(len(r[0])))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// linearByHand is x Wᵀ + b.
func linearByHand(t *testing.T, l *linear, x [][]float64) [][]float64 {
	w, b := vals(t, l.w), vals(t, l.b)
	out := make([][]float64, len(x))
	for i, r := range x {
		out[i] = make([]float64, len(b))
		for o := range b {
			s := b[o]
			for j, v := range r {
				s += w[o*len(r)+j] * v
			}
			out[i][o] = s
		}
	}
	return out
}

func relu(x [][]float64) [][]float64 {
	for _, r := range x {
		for i, v := range r {
			r[i] = max(v, 0)
		}
	}
	return x
}

func mlpByHand(t *testing.T, m *mlp, x [][]float64) [][]float64 {
	h := relu(linearByHand(t, m.l[0], x))
	h = relu(linearByHand(t, m.l[1], h))
	return linearByHand(t, m.l[2], h)
}

// policyByHand is curl_sac.py's Actor.forward with gaussian_logprob and
// squash on state observations.
func policyByHand(t *testing.T, a *Agent, obs, noise [][]float64) (mu, pi [][]float64, logPi []float64) {
	out := mlpByHand(t, a.actor.trunk, obs)
	na := a.cfg.ActionDim
	for i, r := range out {
		var m, p []float64
		lp := 0.0
		for j := range na {
			ls := math.Tanh(r[na+j])
			ls = a.cfg.LogStdMin + 0.5*(a.cfg.LogStdMax-a.cfg.LogStdMin)*(ls+1)
			raw := r[j] + noise[i][j]*math.Exp(ls)
			lp += -0.5*noise[i][j]*noise[i][j] - ls
			m, p = append(m, math.Tanh(r[j])), append(p, math.Tanh(raw))
		}
		lp -= 0.5 * math.Log(2*math.Pi) * float64(na)
		for _, v := range p {
			lp -= math.Log(max(1-v*v, 0) + 1e-6)
		}
		mu, pi, logPi = append(mu, m), append(pi, p), append(logPi, lp)
	}
	return mu, pi, logPi
}

func qByHand(t *testing.T, c *critic, obs, act [][]float64) (q1, q2 []float64) {
	x := make([][]float64, len(obs))
	for i := range obs {
		x[i] = append(slices.Clone(obs[i]), act[i]...)
	}
	for _, r := range mlpByHand(t, c.q1, x) {
		q1 = append(q1, r[0])
	}
	for _, r := range mlpByHand(t, c.q2, x) {
		q2 = append(q2, r[0])
	}
	return q1, q2
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.7g, by hand %.7g", what, i, got[i], want[i])
		}
	}
}

func stateAgent(t *testing.T) *Agent {
	t.Helper()
	cfg := Default([]int{3}, 2)
	cfg.Hidden, cfg.Seed = 6, 11
	a, err := New(cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func randRows(r *rand.Rand, n, d int, scale float64) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range out[i] {
			out[i][j] = scale * r.NormFloat64()
		}
	}
	return out
}

// normals are the first n×d draws of the agent's noise stream as
// nn.Normal makes them (float32).
func normals(r *rand.Rand, n, d int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range out[i] {
			out[i][j] = float64(float32(r.NormFloat64()))
		}
	}
	return out
}

// TestPolicyByHand: the actor's squashed mean, sample and log-probability
// (Gaussian log-density minus Σ log(1 − tanh² + 1e-6)) are curl_sac.py's.
func TestPolicyByHand(t *testing.T) {
	runtime.LockOSThread()
	a := stateAgent(t)
	r := rand.New(rand.NewPCG(1, 2))
	obs, noise := randRows(r, 5, 3, 1), randRows(r, 5, 2, 1)
	// a large mean drives tanh near ±1, where the correction matters
	obs[4] = []float64{40, -40, 40}
	s := tensor.NewScope()
	defer s.Close()
	p := a.actor.forward(s.T(fromRows(t, obs)), s.T(fromRows(t, noise)), false)
	defer p.drop()
	mu, pi, logPi := policyByHand(t, a, obs, noise)
	near(t, "mu", vals(t, p.mu), slices.Concat(mu...), 1e-5)
	near(t, "pi", vals(t, p.pi), slices.Concat(pi...), 1e-5)
	near(t, "log pi", vals(t, p.logPi), logPi, 1e-4)
	acts, err := a.Act(s.T(fromRows(t, obs)), true)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "deterministic action", acts, slices.Concat(mu...), 1e-5)
}

// TestUpdateByHand: one update's critic loss (target r + γ·not_done·(min
// Q_target − α log π) with the policy's sample at s'), actor loss
// (mean(α log π − min Q)) and temperature loss (mean(α(−log π − (−|A|))))
// are the formulas on the networks' weights; the critic step moves only
// the critic, the actor step only the actor and α, and the target critic
// moves by EMA only on the period.
func TestUpdateByHand(t *testing.T) {
	runtime.LockOSThread()
	a := stateAgent(t)
	r := rand.New(rand.NewPCG(3, 4))
	const n = 8
	obs, next, act := randRows(r, n, 3, 1), randRows(r, n, 3, 1), randRows(r, n, 2, 0.5)
	rew := randRows(r, n, 1, 1)
	nd := make([][]float64, n)
	for i := range nd {
		nd[i] = []float64{1}
	}
	nd[2][0] = 0 // one terminal transition
	s := tensor.NewScope()
	defer s.Close()
	b := &Batch{Obs: s.T(fromRows(t, obs)), Next: s.T(fromRows(t, next)), Action: s.T(fromRows(t, act)), Reward: s.T(fromRows(t, rew)), NotDone: s.T(fromRows(t, nd))}
	stream := rand.New(rand.NewPCG(a.cfg.Seed, 0x401e)) // the agent's noise

	// critic
	alpha := a.Alpha()
	if math.Abs(alpha-0.1) > 1e-7 {
		t.Fatalf("initial α %v, want 0.1", alpha)
	}
	_, piN, logPiN := policyByHand(t, a, next, normals(stream, n, 2))
	t1, t2 := qByHand(t, a.target, next, piN)
	q1, q2 := qByHand(t, a.critic, obs, act)
	var want, meanQ float64
	for i := range n {
		tq := rew[i][0] + nd[i][0]*a.cfg.Discount*(min(t1[i], t2[i])-alpha*logPiN[i])
		want += ((q1[i]-tq)*(q1[i]-tq) + (q2[i]-tq)*(q2[i]-tq)) / n
		meanQ += q1[i] / n
	}
	actorBefore, targetBefore := snapshot(t, a.actorVS.Variables()), snapshot(t, a.targetVS.Variables())
	criticBefore := snapshot(t, a.criticVS.Variables())
	loss, q, err := a.updateCritic(b)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "critic loss", []float64{loss}, []float64{want}, 1e-5)
	near(t, "mean Q", []float64{q}, []float64{meanQ}, 1e-5)
	same(t, "actor after the critic step", a.actorVS.Variables(), actorBefore, true)
	same(t, "critic after the critic step", a.criticVS.Variables(), criticBefore, false)

	// actor and α, on the critic as it now is
	_, pi, logPi := policyByHand(t, a, obs, normals(stream, n, 2))
	q1, q2 = qByHand(t, a.critic, obs, pi)
	var wantActor, wantAlpha float64
	for i := range n {
		wantActor += (alpha*logPi[i] - min(q1[i], q2[i])) / n
		wantAlpha += alpha * (-logPi[i] + float64(a.cfg.ActionDim)) / n
	}
	criticBefore = snapshot(t, a.criticVS.Variables())
	var st Stats
	if err := a.updateActor(b.Obs, &st); err != nil {
		t.Fatal(err)
	}
	near(t, "actor loss", []float64{st.ActorLoss}, []float64{wantActor}, 1e-5)
	near(t, "temperature loss", []float64{st.AlphaLoss}, []float64{wantAlpha}, 1e-5)
	same(t, "critic after the actor step", a.criticVS.Variables(), criticBefore, true)
	same(t, "actor after the actor step", a.actorVS.Variables(), actorBefore, false)
	// the temperature loss's gradient in log α is the loss itself (α·w):
	// Adam's first step moves log α by lr against its sign
	if d, w := math.Log(a.Alpha())-math.Log(alpha), -math.Copysign(a.cfg.AlphaLR, wantAlpha); math.Abs(d-w) > 2e-6 {
		t.Errorf("log α moved by %.4g, want %.4g", d, w)
	}
	same(t, "target before any EMA", a.targetVS.Variables(), targetBefore, true)
}

// snapshot copies every variable's values.
func snapshot(t *testing.T, vars map[string]ts.Tensor) map[string][]float64 {
	out := map[string][]float64{}
	for name, v := range vars {
		out[name] = vals(t, &v)
	}
	return out
}

// same checks that vars equal (or, with equal false, differ somewhere
// from) an earlier snapshot.
func same(t *testing.T, what string, vars map[string]ts.Tensor, before map[string][]float64, equal bool) {
	t.Helper()
	changed := []string{}
	for name, v := range vars {
		if !slices.Equal(vals(t, &v), before[name]) {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	if equal && len(changed) > 0 {
		t.Errorf("%s: %s changed", what, strings.Join(changed, ", "))
	}
	if !equal && len(changed) == 0 {
		t.Errorf("%s: nothing changed", what)
	}
}
