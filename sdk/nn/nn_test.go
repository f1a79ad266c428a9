package nn

import (
	"math"
	"slices"
	"testing"

	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func values(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMLP(t *testing.T) {
	cases := []struct {
		name   string
		cfg    MLPConfig
		params int64
	}{
		{"simclr projector", Projector(128, 128, 64), 128*128 + 128 + 2*128 + 128*64 + 64},
		{"linear", MLPConfig{Dims: []int64{16, 8}}, 16*8 + 8},
		{"last BN without affine, hidden without bias", MLPConfig{Dims: []int64{16, 32, 8}, BatchNorm: true, NoHiddenBias: true, LastBN: true}, 16*32 + 2*32 + 32*8 + 8},
		{"last BN with affine", MLPConfig{Dims: []int64{16, 32, 8}, BatchNorm: true, LastBN: true, LastBNAffine: true}, 16*32 + 32 + 2*32 + 32*8 + 8 + 2*8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs := gnn.NewVarStore(gotch.CPU)
			defer vs.Destroy()
			m, err := NewMLP(vs.Root(), NewRand(1), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := NumParams(vs); got != c.params {
				t.Errorf("NumParams = %d, want %d", got, c.params)
			}
			x, _ := Normal(NewRand(2), gotch.CPU, 6, c.cfg.Dims[0])
			defer x.MustDrop()
			y := m.Forward(x, true)
			defer y.MustDrop()
			if got := y.MustSize(); !slices.Equal(got, []int64{6, m.OutDim()}) {
				t.Errorf("output shape %v", got)
			}
			a, b := m.Forward(x, false), m.Forward(x, false)
			defer a.MustDrop()
			defer b.MustDrop()
			if !slices.Equal(values(t, a), values(t, b)) {
				t.Error("eval forward is not deterministic")
			}
		})
	}
	if _, err := NewMLP(gnn.NewVarStore(gotch.CPU).Root(), NewRand(1), MLPConfig{Dims: []int64{4}}); err == nil {
		t.Error("one dimension: want an error")
	}
}

func TestSameSeedSameHead(t *testing.T) {
	get := func(seed int64) []float64 {
		vs := gnn.NewVarStore(gotch.CPU)
		defer vs.Destroy()
		m, err := NewMLP(vs.Root(), NewRand(seed), Projector(8, 8, 4))
		if err != nil {
			t.Fatal(err)
		}
		return values(t, m.linears[0].W)
	}
	if !slices.Equal(get(3), get(3)) || slices.Equal(get(3), get(4)) {
		t.Error("head init must depend on the seed only")
	}
}

func TestEMAAndCopy(t *testing.T) {
	online := gnn.NewVarStore(gotch.CPU)
	defer online.Destroy()
	target := gnn.NewVarStore(gotch.CPU)
	defer target.Destroy()
	lo, _ := NewLinear(online.Root(), NewRand(1), 3, 2, true)
	bo, _ := NewBatchNorm(online.Root().Sub("bn"), 2, true)
	lt, _ := NewLinear(target.Root(), NewRand(2), 3, 2, true)
	bt, _ := NewBatchNorm(target.Root().Sub("bn"), 2, true)
	if err := CopyVars(target, online); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(t, lo.W), values(t, lt.W)) {
		t.Fatal("CopyVars did not copy")
	}
	if err := Freeze(target); err != nil {
		t.Fatal(err)
	}
	if lt.W.MustRequiresGrad() {
		t.Error("frozen target still requires grad")
	}
	before := values(t, lt.W)
	// move online away, then one EMA step with m = 0.9
	shift, _ := Filled(1, gotch.CPU, 2, 3)
	assign(lo.W, lo.W.MustDetach(false).MustAdd(shift, true))
	shift.MustDrop()
	running, _ := Filled(5, gotch.CPU, 2)
	assign(bo.Mean, running)
	if err := EMA(target, online, 0.9, KeepBuffers); err != nil {
		t.Fatal(err)
	}
	after := values(t, lt.W)
	for i := range after {
		if want := before[i] + 0.1; math.Abs(after[i]-want) > 1e-6 {
			t.Fatalf("ema weight %d = %v, want %v", i, after[i], want)
		}
	}
	if got := values(t, bt.Mean); got[0] != 0 {
		t.Errorf("EMA moved a buffer (running mean %v); buffers follow the target's own forward", got)
	}
	if err := EMA(target, online, 1.5, KeepBuffers); err == nil {
		t.Error("momentum 1.5: want an error")
	}
}

func TestLossHelpers(t *testing.T) {
	x, _ := tensor.FromFloat64([]float64{3, 4, 0, 0}, 2, 2)
	defer x.MustDrop()
	n := Normalize(x)
	defer n.MustDrop()
	if got := values(t, n); !slices.Equal(got, []float64{0.6, 0.8, 0, 0}) {
		t.Errorf("Normalize = %v (zero rows must stay zero)", got)
	}
	logits, _ := tensor.FromFloat64([]float64{0, math.Log(3), math.Inf(-1), 0}, 2, 2)
	defer logits.MustDrop()
	tg, _ := tensor.FromInt64([]int64{1, 1}, 2)
	defer tg.MustDrop()
	ce := CrossEntropy(logits, tg)
	defer ce.MustDrop()
	// row 0: log(1+3) - log 3; row 1: 0 (the -inf entry has no weight)
	if got, want := Item(ce), (math.Log(4)-math.Log(3))/2; math.Abs(got-want) > 1e-15 {
		t.Errorf("CrossEntropy = %v, want %v", got, want)
	}
}
