package contrastive_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/plugins/contrastive"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// withCases are the methods with golden cases (sdk/conformance/testdata/
// cases); infonce and nce have none and are tested against their formulas
// below.
var withCases = []string{
	contrastive.AlignUniformName, contrastive.DebiasedName,
	contrastive.HardNegName, contrastive.FlatNCEName,
}

func ctor(t *testing.T, name string) method.Constructor {
	t.Helper()
	c, ok := contrastive.Constructor(name)
	if !ok {
		t.Fatalf("no constructor %q", name)
	}
	return c
}

func TestConformance(t *testing.T) {
	for _, name := range withCases {
		t.Run(name, func(t *testing.T) { conformance.Test(t, ctor(t, name), "") })
	}
}

func TestStep(t *testing.T) {
	for _, c := range contrastive.Constructors() {
		t.Run(c.Name, func(t *testing.T) {
			conformance.TestStep(t, c, conformance.StepOptions{})
		})
	}
}

func TestSpec(t *testing.T) {
	if got := len(contrastive.Constructors()); got != 6 {
		t.Errorf("%d constructors, want 6", got)
	}
	for _, c := range contrastive.Constructors() {
		s := c.New().Spec()
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		if s.Name != c.Name || s.Target != nil || len(s.Views) != 2 || s.Views[0].Recipe != "simclr" {
			t.Errorf("%s: spec %+v: want two online simclr views and no target", c.Name, s)
		}
		for _, k := range []string{"proj_hidden", "proj_out", "lr", "weight_decay"} {
			if _, ok := s.Defaults[k]; !ok {
				t.Errorf("%s: defaults %v lack %q", c.Name, s.Defaults, k)
			}
		}
	}
}

func TestSetupRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		config method.Params
		want   string
	}{
		{contrastive.DebiasedName, method.Params{"temprature": 0.5}, "unknown config key"},
		{contrastive.DebiasedName, method.Params{"tau_plus": 1.0}, "tau_plus"},
		{contrastive.HardNegName, method.Params{"estimator": "medium"}, "estimator"},
		{contrastive.FlatNCEName, method.Params{"temperature": 0.0}, "temperature"},
		{contrastive.AlignUniformName, method.Params{"t": -1.0}, "must be positive"},
		{contrastive.InfoNCEName, method.Params{"normalize": "yes"}, "normalize"},
		{contrastive.NCEName, method.Params{"proj_out": int64(0)}, "proj_out"},
	}
	for _, tt := range tests {
		m := contrastive.New(tt.name)
		_, err := m.Setup(t.Context(), method.SetupRequest{
			FeatureDims: map[string][]int64{"pooled": {8}}, Config: tt.config, Device: "cpu",
		})
		m.Close()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s with %v: error %v, want one naming %q", tt.name, tt.config, err, tt.want)
		}
	}
}

// lossOf runs name's Loss on float64 roles and returns the value and the
// gradients by role.
func lossOf(t *testing.T, name string, params method.Params, shapes map[string][]int64, data map[string][]float64) (float64, map[string][]float64) {
	t.Helper()
	in := method.LossInput{Inputs: method.Tensors{}, Params: params}
	defer in.Inputs.Drop()
	for r, v := range data {
		x, err := tensor.FromFloat64(v, shapes[r]...)
		if err != nil {
			t.Fatal(err)
		}
		in.Inputs[r] = x
	}
	m := contrastive.New(name)
	defer m.Close()
	out, err := m.Loss(t.Context(), in)
	if err != nil {
		t.Fatalf("%s Loss: %v", name, err)
	}
	defer out.Drop()
	grads := map[string][]float64{}
	for r, g := range out.Grads {
		v, err := tensor.Float64s(g)
		if err != nil {
			t.Fatal(err)
		}
		grads[r] = v
	}
	return out.Loss, grads
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-8+1e-6*math.Abs(b) }

func checkClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !near(got[i], want[i]) {
			t.Errorf("%s[%d] = %.12g, want %.12g", what, i, got[i], want[i])
		}
	}
}

// TestInfoNCEHandCase: anchor (1,0), positive (1,0), negatives (0,1) and
// (−1,0), T = 1: logits (1, 0, −1), Z = e + 1 + 1/e, loss = log Z − 1, and
// with softmax weights s = (e, 1, 1/e)/Z the gradients are
// ∂a = (s0 − s2 − 1, s1), ∂p = (s0 − 1) a, ∂n_k = s_k a.
func TestInfoNCEHandCase(t *testing.T) {
	e := math.E
	z := e + 1 + 1/e
	s0, s1, s2 := e/z, 1/z, 1/e/z
	shapes := map[string][]int64{"anchor": {1, 2}, "positive": {1, 2}, "negatives": {1, 2, 2}}
	data := map[string][]float64{"anchor": {1, 0}, "positive": {1, 0}, "negatives": {0, 1, -1, 0}}
	loss, grads := lossOf(t, contrastive.InfoNCEName, method.Params{"temperature": 1.0}, shapes, data)
	if want := 0.40760596444438035; !near(loss, want) || !near(loss, math.Log(z)-1) {
		t.Errorf("loss %.15g, want %.15g", loss, want)
	}
	checkClose(t, "∂anchor", grads["anchor"], []float64{s0 - s2 - 1, s1})
	checkClose(t, "∂positive", grads["positive"], []float64{s0 - 1, 0})
	checkClose(t, "∂negatives", grads["negatives"], []float64{s1, 0, s2, 0})

	// the same logits from anchor (2,0) at T = 2
	data["anchor"] = []float64{2, 0}
	if loss2, _ := lossOf(t, contrastive.InfoNCEName, method.Params{"temperature": 2.0}, shapes, data); !near(loss2, loss) {
		t.Errorf("scaled anchor at T=2: loss %v, want %v", loss2, loss)
	}
}

// infoNCERef is the formula written out with loops: mean_i of
// log(Σ_k exp(l_ik)) − l_i0 with l_i0 = a_i·p_i/T, l_ik = a_i·n_ik/T.
func infoNCERef(a, p, neg []float64, n, k, d int, temp float64) float64 {
	dot := func(x, y []float64) float64 {
		s := 0.0
		for i := range x {
			s += x[i] * y[i]
		}
		return s
	}
	total := 0.0
	for i := range n {
		ai := a[i*d : (i+1)*d]
		logits := []float64{dot(ai, p[i*d:(i+1)*d]) / temp}
		for j := range k {
			logits = append(logits, dot(ai, neg[(i*k+j)*d:(i*k+j+1)*d])/temp)
		}
		sum := 0.0
		for _, l := range logits {
			sum += math.Exp(l)
		}
		total += math.Log(sum) - logits[0]
	}
	return total / float64(n)
}

func randoms(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// TestInfoNCEFormula checks value and gradients against the formula (the
// gradients by central differences), per-anchor negatives [N, K, D] and
// shared negatives [K, D] alike.
func TestInfoNCEFormula(t *testing.T) {
	const n, k, d, temp = 3, 4, 5, 0.3
	rng := rand.New(rand.NewPCG(7, 7))
	a, p, shared := randoms(rng, n*d), randoms(rng, n*d), randoms(rng, k*d)
	perAnchor := make([]float64, 0, n*k*d)
	for range n {
		perAnchor = append(perAnchor, shared...)
	}
	params := method.Params{"temperature": temp}
	for _, form := range []struct {
		name  string
		shape []int64
		neg   []float64
	}{{"per-anchor", []int64{n, k, d}, perAnchor}, {"shared", []int64{k, d}, shared}} {
		t.Run(form.name, func(t *testing.T) {
			shapes := map[string][]int64{"anchor": {n, d}, "positive": {n, d}, "negatives": form.shape}
			data := map[string][]float64{"anchor": a, "positive": p, "negatives": form.neg}
			loss, grads := lossOf(t, contrastive.InfoNCEName, params, shapes, data)
			ref := func(data map[string][]float64) float64 {
				neg := data["negatives"]
				if len(form.shape) == 2 {
					neg = make([]float64, 0, n*k*d)
					for range n {
						neg = append(neg, data["negatives"]...)
					}
				}
				return infoNCERef(data["anchor"], data["positive"], neg, n, k, d, temp)
			}
			if want := ref(data); !near(loss, want) {
				t.Errorf("loss %.15g, formula %.15g", loss, want)
			}
			for _, role := range []string{"anchor", "positive", "negatives"} {
				checkClose(t, "∂"+role, grads[role], numericGrad(data, role, ref))
			}
		})
	}
}

// numericGrad is the central-difference gradient of f with respect to
// data[role].
func numericGrad(data map[string][]float64, role string, f func(map[string][]float64) float64) []float64 {
	const h = 1e-6
	x := data[role]
	out := make([]float64, len(x))
	for i := range x {
		orig := x[i]
		x[i] = orig + h
		up := f(data)
		x[i] = orig - h
		down := f(data)
		x[i] = orig
		out[i] = (up - down) / (2 * h)
	}
	return out
}

// TestNCEHandCase: data scores (0, ln 3), noise scores (0, −ln 3). With
// σ(0) = 1/2 and σ(ln 3) = 3/4 the data term is (ln 2 + ln 4/3)/2 and the
// noise term the same, so the loss is ln(8/3); ∂data_i = −(1 − σ(s_i))/2 =
// (−1/4, −1/8) and ∂noise_j = σ(s_j)/2 = (1/4, 1/8).
func TestNCEHandCase(t *testing.T) {
	ln3 := math.Log(3)
	shapes := map[string][]int64{"data": {2}, "noise": {2}}
	data := map[string][]float64{"data": {0, ln3}, "noise": {0, -ln3}}
	loss, grads := lossOf(t, contrastive.NCEName, nil, shapes, data)
	if want := math.Log(8.0 / 3); !near(loss, want) {
		t.Errorf("loss %.15g, want ln(8/3) = %.15g", loss, want)
	}
	checkClose(t, "∂data", grads["data"], []float64{-0.25, -0.125})
	checkClose(t, "∂noise", grads["noise"], []float64{0.25, 0.125})
}

// TestNCEFormula checks NCE on data [3] and noise [3, 4] scores against
// −mean log σ(s) − mean log(1 − σ(s~)) and its derivative.
func TestNCEFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	d, n := randoms(rng, 3), randoms(rng, 12)
	for i := range n {
		n[i] *= 4
	}
	shapes := map[string][]int64{"data": {3}, "noise": {3, 4}}
	loss, grads := lossOf(t, contrastive.NCEName, nil, shapes, map[string][]float64{"data": d, "noise": n})
	want := 0.0
	wantD, wantN := make([]float64, len(d)), make([]float64, len(n))
	for i, s := range d {
		want -= math.Log(sig(s)) / float64(len(d))
		wantD[i] = -(1 - sig(s)) / float64(len(d))
	}
	for i, s := range n {
		want -= math.Log(1-sig(s)) / float64(len(n))
		wantN[i] = sig(s) / float64(len(n))
	}
	if !near(loss, want) {
		t.Errorf("loss %.15g, formula %.15g", loss, want)
	}
	checkClose(t, "∂data", grads["data"], wantD)
	checkClose(t, "∂noise", grads["noise"], wantN)
}

// TestHardNegBetaZeroIsDebiased: with β = 0 the weights are all 1, so HCL's
// hard estimator reduces to DCL (METHODS.md).
func TestHardNegBetaZeroIsDebiased(t *testing.T) {
	const b, d = 6, 8
	rng := rand.New(rand.NewPCG(1, 2))
	unit := func() []float64 {
		v := randoms(rng, b*d)
		for i := range b {
			s := 0.0
			for _, x := range v[i*d : (i+1)*d] {
				s += x * x
			}
			for j := range d {
				v[i*d+j] /= math.Sqrt(s)
			}
		}
		return v
	}
	shapes := map[string][]int64{"out_1": {b, d}, "out_2": {b, d}}
	data := map[string][]float64{"out_1": unit(), "out_2": unit()}
	hl, hg := lossOf(t, contrastive.HardNegName, method.Params{"temperature": 0.5, "tau_plus": 0.1, "beta": 0.0, "estimator": "hard"}, shapes, data)
	dl, dg := lossOf(t, contrastive.DebiasedName, method.Params{"temperature": 0.5, "tau_plus": 0.1}, shapes, data)
	if !near(hl, dl) {
		t.Errorf("hardneg β=0 loss %v, debiased %v", hl, dl)
	}
	checkClose(t, "∂out_1", hg["out_1"], dg["out_1"])
	checkClose(t, "∂out_2", hg["out_2"], dg["out_2"])
}
