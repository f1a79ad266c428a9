package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
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

// good is a well-formed file of two tensors, a 0-d one among them.
func good(t *testing.T) []byte {
	t.Helper()
	x, _ := tensor.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)
	defer x.MustDrop()
	n, _ := tensor.FromInt64([]int64{9})
	defer n.MustDrop()
	var b bytes.Buffer
	if err := Write(&b, map[string]*ts.Tensor{"x": x, "n": n}, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseErrors(t *testing.T) {
	good := good(t)
	withHeader := func(h string) []byte {
		for len(h)%8 != 0 {
			h += " "
		}
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), make([]byte, 8)...)
	}
	cases := []struct {
		name   string
		file   []byte
		substr string
	}{
		{"empty", nil, "too short"},
		{"truncated data", good[:len(good)-3], "truncated"},
		{"trailing bytes", append(slices.Clone(good), 0), "trailing"},
		{"header past the end", append(binary.LittleEndian.AppendUint64(nil, 1<<40), good[8:]...), "does not fit"},
		{"not json", withHeader("{nope"), "JSON"},
		{"unknown dtype", withHeader(`{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}`), "dtype"},
		{"size mismatch", withHeader(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`), "do not hold"},
		{"negative dimension", withHeader(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`), "negative"},
		{"shape overflows", withHeader(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}`), "too large"},
		{"unknown field", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`), "unknown field"},
		{"gap", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), "gap"},
		{"overlap", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), "overlap"},
		{"bad metadata", withHeader(`{"__metadata__":{"a":1}}`), "__metadata__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.file)
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %v, want one mentioning %q", err, c.substr)
			}
			if x, _, err := Read(bytes.NewReader(c.file)); err == nil {
				for _, y := range x {
					y.MustDrop()
				}
				t.Error("Read accepted what Parse rejects")
			}
		})
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil {
		t.Error("ParseFile of a missing file: want an error")
	}
}

// TestRawRoundTrip: File.WriteTo writes what Write writes for the same
// tensors, and Parse reads it back.
func TestRawRoundTrip(t *testing.T) {
	b := good(t)
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !slices.Equal(got, []string{"n", "x"}) {
		t.Errorf("names %v", got)
	}
	if n := f.Tensors["n"]; n.DType != "I64" || n.Shape == nil || len(n.Shape) != 0 || int64(binary.LittleEndian.Uint64(n.Data)) != 9 {
		t.Errorf("0-d tensor %+v", n)
	}
	var out bytes.Buffer
	n, err := f.WriteTo(&out)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) || !bytes.Equal(out.Bytes(), b) {
		t.Errorf("WriteTo wrote %d bytes %q, want Write's %q", n, out.Bytes(), b)
	}
	x, err := f.Tensors["x"].ToTensor()
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	if got, _ := tensor.Float32s(x); !slices.Equal(got, []float32{1, 2, 3, 4}) || !slices.Equal(x.MustSize(), []int64{2, 2}) {
		t.Errorf("x = %v %v", got, x.MustSize())
	}
	for name, bad := range map[string]Tensor{
		"short data":    {DType: "F32", Shape: []int64{2}, Data: make([]byte, 4)},
		"unknown dtype": {DType: "Q7", Shape: []int64{1}, Data: make([]byte, 4)},
	} {
		if _, err := (&File{Tensors: map[string]Tensor{"a": bad}}).WriteTo(io.Discard); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := (&File{Tensors: map[string]Tensor{"__metadata__": {DType: "U8", Shape: []int64{0}}}}).WriteTo(io.Discard); err == nil {
		t.Error("a tensor named __metadata__: want an error")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	for _, body := range []string{"first", "second"} { // the second write replaces the first
		if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
			t.Fatal(err)
		}
	}
	failed := errors.New("write failed")
	if err := WriteFileAtomic(path, func(w io.Writer) error { io.WriteString(w, "partial"); return failed }); !errors.Is(err, failed) {
		t.Errorf("error %v, want the writer's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second" {
		t.Errorf("file holds %q, want the last complete write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temporaries left)", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "no", "such", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Error("write into a missing folder: want an error")
	}
}
