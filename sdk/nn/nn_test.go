package nn

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/selfsup/selfsup/sdk/safetensors"
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

func TestStateRoundTrip(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	if _, err := NewMLP(vs.Root(), NewRand(1), Projector(4, 8, 2)); err != nil {
		t.Fatal(err)
	}
	st := NewState()
	st.AddVars("head/", vs)
	q, _ := tensor.FromFloat64([]float64{1, 2, 3}, 3)
	defer q.MustDrop()
	st.Tensors["queue"] = q
	st.Ints["ptr"] = 42
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Drop()
	if p, _ := got.Int("ptr"); p != 42 {
		t.Errorf("ptr = %d", p)
	}
	gq, _ := got.Tensor("queue")
	if gq.DType() != gotch.Double || !slices.Equal(values(t, gq), []float64{1, 2, 3}) {
		t.Errorf("queue %v %v", gq.DType(), values(t, gq))
	}
	other := gnn.NewVarStore(gotch.CPU)
	defer other.Destroy()
	if _, err := NewMLP(other.Root(), NewRand(99), Projector(4, 8, 2)); err != nil {
		t.Fatal(err)
	}
	if err := got.LoadVars("head/", other); err != nil {
		t.Fatal(err)
	}
	orig := vs.Variables()
	for name, v := range other.Variables() {
		o := orig[name]
		if !slices.Equal(values(t, &v), values(t, &o)) {
			t.Errorf("%s differs after LoadVars", name)
		}
	}
	wrong := gnn.NewVarStore(gotch.CPU)
	defer wrong.Destroy()
	if _, err := NewMLP(wrong.Root(), NewRand(1), Projector(4, 16, 2)); err != nil {
		t.Fatal(err)
	}
	if err := got.LoadVars("head/", wrong); err == nil {
		t.Error("LoadVars into a head of another shape: want an error")
	}
	for _, cut := range []int{0, 10, len(b) / 2, len(b) - 1} {
		if s, err := DecodeState(b[:cut]); err == nil {
			s.Drop()
			t.Errorf("DecodeState of %d of %d bytes: want an error", cut, len(b))
		}
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

// TestStateFormat: method state is a safetensors file (integers and the
// format version in its metadata), and anything else is an error.
func TestStateFormat(t *testing.T) {
	q, _ := tensor.FromFloat32([]float32{1, 2}, 2)
	defer q.MustDrop()
	st := NewState()
	st.Tensors["queue"] = q
	st.Ints["ptr"] = -7
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Parse(b)
	if err != nil {
		t.Fatalf("state bytes are not safetensors: %v", err)
	}
	if f.Metadata[stateVersionKey] != stateVersion || f.Metadata[stateIntPrefix+"ptr"] != "-7" || f.Tensors["queue"].DType != "F32" {
		t.Errorf("state file %v %v", f.Metadata, f.Tensors)
	}
	rewrite := func(edit func(*safetensors.File)) []byte {
		g, _ := safetensors.Parse(b)
		edit(g)
		var out bytes.Buffer
		if _, err := g.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	cases := map[string][]byte{
		"old binary format": []byte("selfsup-state/1\n\x00\x00\x00\x00\x00\x00\x00\x00"),
		"no version":        rewrite(func(g *safetensors.File) { delete(g.Metadata, stateVersionKey) }),
		"other version":     rewrite(func(g *safetensors.File) { g.Metadata[stateVersionKey] = "9" }),
		"bad integer":       rewrite(func(g *safetensors.File) { g.Metadata[stateIntPrefix+"ptr"] = "x" }),
	}
	for name, data := range cases {
		if s, err := DecodeState(data); err == nil {
			s.Drop()
			t.Errorf("%s: want an error", name)
		}
	}
}
