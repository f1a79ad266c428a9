package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

func TestRoundTrip(t *testing.T) {
	a, _ := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b, _ := tensor.FromInt64([]int64{7}, 1)
	c, _ := tensor.FromFloat64([]float64{3.5}) // scalar
	in := map[string]*ts.Tensor{"layer.weight": a, "step": b, "s": c}
	defer func() {
		for _, x := range in {
			x.MustDrop()
		}
	}()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(path, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	hl := binary.LittleEndian.Uint64(raw[:8])
	if hl%8 != 0 || !strings.Contains(string(raw[8:8+hl]), `"layer.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`) {
		t.Errorf("header not as the format says: %s", raw[8:8+hl])
	}
	out, meta, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range out {
			x.MustDrop()
		}
	}()
	if meta["format"] != "pt" {
		t.Errorf("metadata %v", meta)
	}
	if got, _ := tensor.Float32s(out["layer.weight"]); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) || !slices.Equal(out["layer.weight"].MustSize(), []int64{2, 3}) {
		t.Errorf("layer.weight = %v %v", got, out["layer.weight"].MustSize())
	}
	if got, _ := tensor.Int64s(out["step"]); !slices.Equal(got, []int64{7}) {
		t.Errorf("step = %v", got)
	}
	if got, _ := tensor.Float64s(out["s"]); len(out["s"].MustSize()) != 0 || got[0] != 3.5 {
		t.Errorf("scalar = %v shape %v", got, out["s"].MustSize())
	}
}

func TestMalformed(t *testing.T) {
	var good bytes.Buffer
	x, _ := tensor.FromFloat32([]float32{1, 2}, 2)
	defer x.MustDrop()
	if err := Write(&good, map[string]*ts.Tensor{"x": x}, nil); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	cases := map[string][]byte{
		"empty":          nil,
		"short length":   g[:5],
		"huge header":    append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, g[8:]...),
		"truncated data": g[:len(g)-3],
		"not json":       append(append([]byte{}, g[:8]...), bytes.Repeat([]byte{'x'}, len(g)-8)...),
	}
	for name, b := range cases {
		if _, _, err := Read(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
