package contrastive

import (
	"math"
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestNCEPairs checks how nce's Step forms data and noise: with z1 = z2 =
// the 3×3 identity, T = 1 and log_z = 0, the three matched pairs score 1
// (data) and the six mismatched pairs 0 (noise), so the loss is
// −log σ(1) − log(1 − σ(0)) = log(1 + e^−1) + log 2.
func TestNCEPairs(t *testing.T) {
	defer nn.Autograd()()
	m := New(NCEName).(*methodkit.Method[NCEConfig])
	if _, err := m.Setup(t.Context(), method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {4}}, Device: "cpu", Config: method.Params{"temperature": 1.0}}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st := m.Stepper().(*step[NCEConfig])
	eye, err := tensor.FromFloat64([]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer eye.MustDrop()
	z := eye.MustTotype(eye.DType(), false)
	defer z.MustDrop()
	s := tensor.NewScope()
	defer s.Close()
	loss := ncePair(s, st.cfg.Temperature, st.logZ, eye, z)
	defer loss.MustDrop()
	want := math.Log(1+math.Exp(-1)) + math.Log(2)
	if got := nn.Item(loss); math.Abs(got-want) > 1e-6 {
		t.Errorf("loss %v, want %v", got, want)
	}
}
