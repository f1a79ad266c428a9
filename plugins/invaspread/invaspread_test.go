package invaspread_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/plugins/invaspread"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, invaspread.Constructor(), "")
}

func TestStep(t *testing.T) {
	conformance.TestStep(t, invaspread.Constructor(), conformance.StepOptions{MemorySteps: 150})
}

func TestSpec(t *testing.T) {
	s := invaspread.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Target != nil || len(s.Views) != 2 {
		t.Errorf("spec %+v: want two online views and no target", s)
	}
}

func TestBadParams(t *testing.T) {
	for _, p := range []method.Params{{"T": 0.0}, {"negM": 0.0}, {"negM": -1.0}, {"tau": 0.1}} {
		m := invaspread.New()
		if _, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Config: p, Device: "cpu"}); err == nil {
			t.Errorf("Setup with %v succeeded", p)
		}
		m.Close()
	}
}

// TestNegMAboveOne: the reference's BatchCriterion takes any negM > 0 (its
// divisor negM(Σ_j A_ij − pos_i) + pos_i); the loss for negM 2 and 3.5
// matches a float64 transcription of METHODS.md's formula.
func TestNegMAboveOne(t *testing.T) {
	const b, d, temp = 4, 6, 0.1
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 2*b*d)
	for i := range 2 * b {
		var n float64
		for k := range d {
			x[i*d+k] = r.NormFloat64()
			n += x[i*d+k] * x[i*d+k]
		}
		for k := range d {
			x[i*d+k] /= math.Sqrt(n)
		}
	}
	dot := func(i, j int) float64 {
		var s float64
		for k := range d {
			s += x[i*d+k] * x[j*d+k]
		}
		return s
	}
	for _, negM := range []float64{2, 3.5} {
		var sum float64
		for i := range 2 * b {
			p := (i + b) % (2 * b)
			pos := math.Exp(dot(i, p) / temp)
			var all float64
			for j := range 2 * b {
				if j != i {
					all += math.Exp(dot(i, j) / temp)
				}
			}
			div := negM*(all-pos) + pos
			sum += math.Log(pos / div)
			var neg float64
			for j := range 2 * b {
				if j != i {
					neg += math.Log(1 - math.Exp(dot(i, j)/temp)/div)
				}
			}
			sum += negM * (neg - math.Log(1-pos/div))
		}
		want := -sum / (2 * b)
		xt := ts.MustOfSlice(x).MustView([]int64{2 * b, d}, true)
		loss := invaspread.Criterion(xt, negM, temp)
		got := loss.Float64Values()[0]
		loss.MustDrop()
		xt.MustDrop()
		if math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("negM %v: loss %.12g, want %.12g", negM, got, want)
		}
	}
	m := invaspread.New()
	defer m.Close()
	if _, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Config: method.Params{"negM": 2.0}, Device: "cpu"}); err != nil {
		t.Errorf("Setup with negM 2: %v", err)
	}
}
