package methodkit

import (
	"bytes"
	"slices"
	"testing"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func TestStateRoundTrip(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	if _, err := nn.NewMLP(vs.Root(), nn.NewRand(1), nn.Projector(4, 8, 2)); err != nil {
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
	if _, err := nn.NewMLP(other.Root(), nn.NewRand(99), nn.Projector(4, 8, 2)); err != nil {
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
	if _, err := nn.NewMLP(wrong.Root(), nn.NewRand(1), nn.Projector(4, 16, 2)); err != nil {
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

func values(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
