package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/safetensors"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// trained builds name under seed and runs one train-mode forward, so that
// BatchNorm running statistics and num_batches_tracked are not at their
// initial values.
func trained(t *testing.T, name string, in, size int64, seed uint64) encoder.Encoder {
	t.Helper()
	backend.ManualSeed(seed)
	enc, err := encoder.New(name, in, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enc.VarStore().Destroy)
	x := wave(t, 4, in, size)
	defer x.MustDrop()
	out, err := enc.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	out.Drop()
	return enc
}

// wave is x[i] = sin(0.37 i) of shape [n, c, size, size], as torch_load.py
// makes it.
func wave(t *testing.T, n, c, size int64) *ts.Tensor {
	t.Helper()
	v := make([]float32, n*c*size*size)
	for i := range v {
		v[i] = float32(math.Sin(0.37 * float64(i)))
	}
	x, err := tensor.FromFloat32(v, n, c, size, size)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func features(t *testing.T, enc encoder.Encoder, x *ts.Tensor, train bool) []float32 {
	t.Helper()
	out, err := enc.Forward(x, train)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Drop()
	v, err := tensor.Float32s(out[encoder.Pooled])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func export(t *testing.T, enc encoder.Encoder) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Safetensors(&buf, enc, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func varBytes(t *testing.T, enc encoder.Encoder) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for n, v := range enc.VarStore().Variables() {
		b, err := tensor.AppendBytes(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name     string
		in, size int64
	}{
		{encoder.ConvNetS, 1, 28},
		{encoder.ResNet18CIFAR, 3, 32},
		{encoder.ResNet50, 3, 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := trained(t, c.name, c.in, c.size, 1)
			f, err := ParseSafetensors(export(t, src))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(f.Tensors), src.VarStore().Len(); got != want {
				t.Fatalf("%d tensors in the file, encoder has %d variables", got, want)
			}
			backend.ManualSeed(2)
			dst, err := encoder.New(c.name, c.in, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			defer dst.VarStore().Destroy()
			if err := f.LoadInto(dst); err != nil {
				t.Fatal(err)
			}
			want := varBytes(t, src)
			for n, b := range varBytes(t, dst) {
				if !bytes.Equal(b, want[n]) {
					t.Errorf("variable %s differs after the round trip", n)
				}
			}
			x := wave(t, 2, c.in, c.size)
			defer x.MustDrop()
			for _, train := range []bool{false, true} {
				if a, b := features(t, src, x, train), features(t, dst, x, train); !slices.Equal(a, b) {
					t.Errorf("train=%v: features differ after the round trip", train)
				}
			}
		})
	}
}

func TestLayout(t *testing.T) {
	enc := trained(t, encoder.ConvNetS, 1, 28, 1)
	b := export(t, enc)
	n := binary.LittleEndian.Uint64(b[:8])
	if n%8 != 0 {
		t.Errorf("header length %d is not 8-byte aligned", n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(header["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]string{MetaFormat: "pt", MetaArchitecture: encoder.ConvNetS, MetaInChannels: "1", "note": "test"}
	for k, v := range wantMeta {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	var nbt struct {
		DType   string   `json:"dtype"`
		Shape   []int64  `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(header["1.num_batches_tracked"], &nbt); err != nil {
		t.Fatal(err)
	}
	if nbt.DType != "I64" || nbt.Shape == nil || len(nbt.Shape) != 0 || nbt.Offsets[1]-nbt.Offsets[0] != 8 {
		t.Errorf("num_batches_tracked entry %+v, want I64 of shape [] (8 bytes)", nbt)
	}
	if !strings.Contains(string(b[8:8+n]), `"shape":[]`) {
		t.Error(`a 0-d tensor must be written as "shape":[]`)
	}
	f, err := ParseSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := int64(binary.LittleEndian.Uint64(f.Tensors["1.num_batches_tracked"].Data)); v != 1 {
		t.Errorf("num_batches_tracked = %d after one train forward, want 1", v)
	}
}

// python finds python3 (on PATH, then Debian's /usr/bin/python3); with
// modules, the first one that imports them all, or "" when none does.
func python(t *testing.T, modules ...string) string {
	t.Helper()
	found := false
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		found = true
		if exec.Command(path, "-c", "import json, struct; "+imports(modules)).Run() == nil {
			return path
		}
	}
	if !found {
		t.Skip("python3 not found: install python3 to run the independent-reader checks")
	}
	return ""
}

func imports(modules []string) string {
	if len(modules) == 0 {
		return ""
	}
	return "import " + strings.Join(modules, ", ")
}

func runPython(t *testing.T, py string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", py, args, err, stderr.String())
	}
	return out
}

// TestIndependentReader parses the exported file with a json+struct Python
// script and compares names, dtypes, shapes and checksums with the
// encoder's own variables.
func TestIndependentReader(t *testing.T) {
	py := python(t)
	for _, c := range []struct {
		name string
		in   int64
	}{{encoder.ConvNetS, 1}, {encoder.ResNet18, 3}} {
		t.Run(c.name, func(t *testing.T) {
			enc := trained(t, c.name, c.in, 32, 1)
			path := filepath.Join(t.TempDir(), "trunk.safetensors")
			if err := SafetensorsFile(path, enc, nil); err != nil {
				t.Fatal(err)
			}
			var got struct {
				HeaderLen int64             `json:"header_len"`
				Metadata  map[string]string `json:"metadata"`
				Tensors   map[string]struct {
					DType   string  `json:"dtype"`
					Shape   []int64 `json:"shape"`
					ByteSum int64   `json:"bytesum"`
					Sum     float64 `json:"sum"`
				} `json:"tensors"`
			}
			if err := json.Unmarshal(runPython(t, py, "testdata/read_safetensors.py", path), &got); err != nil {
				t.Fatal(err)
			}
			if got.Metadata[MetaArchitecture] != c.name {
				t.Errorf("metadata %v", got.Metadata)
			}
			vars := enc.VarStore().Variables()
			if len(got.Tensors) != len(vars) {
				t.Errorf("reader saw %d tensors, encoder has %d", len(got.Tensors), len(vars))
			}
			for n, v := range vars {
				g, ok := got.Tensors[n]
				if !ok {
					t.Errorf("reader did not see %s", n)
					continue
				}
				dt, _ := safetensors.DTypeName(v.DType())
				if g.DType != dt || !slices.Equal(g.Shape, v.MustSize()) && len(g.Shape)+len(v.MustSize()) > 0 {
					t.Errorf("%s: reader %s %v, encoder %s %v", n, g.DType, g.Shape, dt, v.MustSize())
				}
				raw, _ := tensor.AppendBytes(nil, &v)
				var bs int64
				for _, x := range raw {
					bs += int64(x)
				}
				var sum float64
				switch v.DType() {
				case gotch.Float:
					f, _ := tensor.Float32s(&v)
					for _, x := range f {
						sum += float64(x)
					}
				case gotch.Int64:
					f, _ := tensor.Int64s(&v)
					for _, x := range f {
						sum += float64(x)
					}
				}
				if g.ByteSum != bs || math.Abs(g.Sum-sum) > 1e-9*(1+math.Abs(sum)) {
					t.Errorf("%s: reader bytesum %d sum %v, encoder %d %v", n, g.ByteSum, g.Sum, bs, sum)
				}
			}
		})
	}
}

// TestTorchLoadStateDict loads the export into the PyTorch architecture with
// load_state_dict(strict=True) and compares its features with ours. It
// needs python3-torch (and python3-torchvision for the ResNets) and skips,
// saying so, without them.
func TestTorchLoadStateDict(t *testing.T) {
	py := python(t, "torch")
	if py == "" {
		t.Skip("python3-torch is not installed (apt-get install python3-torch): skipping the PyTorch load_state_dict(strict=True) check")
	}
	vision := exec.Command(py, "-c", "import torchvision").Run() == nil
	cases := []struct {
		name     string
		in, size int64
	}{
		{encoder.ConvNetS, 1, 28},
		{encoder.ConvNetS, 3, 32},
		{encoder.ResNet18CIFAR, 3, 32},
		{encoder.ResNet18, 1, 64},
		{encoder.ResNet50, 3, 32},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+strconv.FormatInt(c.in, 10), func(t *testing.T) {
			if c.name != encoder.ConvNetS && !vision {
				t.Skip("python3-torchvision is not installed (apt-get install python3-torchvision): skipping the torchvision ResNet check")
			}
			enc := trained(t, c.name, c.in, c.size, 3)
			path := filepath.Join(t.TempDir(), "trunk.safetensors")
			if err := SafetensorsFile(path, enc, nil); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Eval  []float32 `json:"eval"`
				Train []float32 `json:"train"`
			}
			out := runPython(t, py, "testdata/torch_load.py", path, c.name, strconv.FormatInt(c.in, 10), strconv.FormatInt(c.size, 10))
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			x := wave(t, 2, c.in, c.size)
			defer x.MustDrop()
			for _, m := range []struct {
				mode  string
				torch []float32
				train bool
			}{{"eval", got.Eval, false}, {"train", got.Train, true}} {
				ours := features(t, enc, x, m.train)
				if len(ours) != len(m.torch) {
					t.Fatalf("%s: %d features from PyTorch, %d from us", m.mode, len(m.torch), len(ours))
				}
				var scale, diff float64
				for i := range ours {
					scale = max(scale, math.Abs(float64(ours[i])))
					diff = max(diff, math.Abs(float64(ours[i]-m.torch[i])))
				}
				if diff > 1e-4*max(scale, 1e-3) {
					t.Errorf("%s: features differ from PyTorch's by %g (scale %g)", m.mode, diff, scale)
				}
				t.Logf("%s: max |ours - torch| = %.3g (max |feature| %.3g)", m.mode, diff, scale)
			}
		})
	}
	// A seeded convnet-s is the PyTorch reference's initial convnet-s, bit
	// for bit: same generator, same draws, same order.
	t.Run("convnet-s init matches torch.manual_seed", func(t *testing.T) {
		backend.ManualSeed(5)
		enc, err := encoder.New(encoder.ConvNetS, 1, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.VarStore().Destroy()
		path := filepath.Join(t.TempDir(), "init.safetensors")
		if err := SafetensorsFile(path, enc, nil); err != nil {
			t.Fatal(err)
		}
		var got struct {
			InitEqual bool `json:"init_equal"`
		}
		if err := json.Unmarshal(runPython(t, py, "testdata/torch_load.py", path, encoder.ConvNetS, "1", "28", "5"), &got); err != nil {
			t.Fatal(err)
		}
		if !got.InitEqual {
			t.Error("convnet-s under backend.ManualSeed(5) differs from PyTorch's convnet_s() under torch.manual_seed(5)")
		}
	})
}

func TestLoadIntoMismatch(t *testing.T) {
	src := trained(t, encoder.ConvNetS, 1, 28, 1)
	f, err := ParseSafetensors(export(t, src))
	if err != nil {
		t.Fatal(err)
	}
	rgb, _ := encoder.New(encoder.ConvNetS, 3, gotch.CPU)
	defer rgb.VarStore().Destroy()
	r18, _ := encoder.New(encoder.ResNet18CIFAR, 1, gotch.CPU)
	defer r18.VarStore().Destroy()
	gray, _ := encoder.New(encoder.ConvNetS, 1, gotch.CPU)
	defer gray.VarStore().Destroy()
	before := varBytes(t, gray)

	missing := &File{safetensors.File{Metadata: map[string]string{}, Tensors: map[string]safetensors.Tensor{}}}
	for k, v := range f.Tensors {
		if k != "4.running_var" {
			missing.Tensors[k] = v
		}
	}
	extra := &File{safetensors.File{Metadata: f.Metadata, Tensors: map[string]safetensors.Tensor{"fc.weight": {DType: "F32", Shape: []int64{1}, Data: make([]byte, 4)}}}}
	for k, v := range f.Tensors {
		extra.Tensors[k] = v
	}
	cases := []struct {
		name   string
		f      *File
		enc    encoder.Encoder
		substr string
	}{
		{"channels", f, rgb, "shape mismatch [0.weight: file [32 1 3 3], encoder [32 3 3 3]]"},
		{"architecture", f, r18, "holds a convnet-s"},
		{"missing", missing, gray, "missing [4.running_var]"},
		{"unexpected", extra, gray, "unexpected [fc.weight]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.f.LoadInto(c.enc)
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %v, want one mentioning %q", err, c.substr)
			}
		})
	}
	for n, b := range varBytes(t, gray) {
		if !bytes.Equal(b, before[n]) {
			t.Errorf("a failed load changed %s", n)
		}
	}
}

func TestSafetensorsFile(t *testing.T) {
	enc := trained(t, encoder.ConvNetS, 1, 28, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "trunk.safetensors")
	for range 2 { // the second write replaces the first
		if err := SafetensorsFile(path, enc, nil); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the file (no temporaries left)", len(entries))
	}
	f, err := LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); len(got) != 30 || got[0] != "0.weight" {
		t.Errorf("names %v", got)
	}
	if err := SafetensorsFile(filepath.Join(dir, "no", "such", "dir", "x.safetensors"), enc, nil); err == nil {
		t.Error("export into a missing folder: want an error")
	}
	if _, err := LoadSafetensors(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("LoadSafetensors of a missing file: want an error")
	}
}
