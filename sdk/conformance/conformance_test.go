package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// fake is a Method whose Loss returns what its fields say.
type fake struct {
	loss  float64
	grads map[string]Tensor
	ints  map[string]Tensor // int64 state
	panic bool
}

func (f *fake) Spec() method.Spec { return method.Spec{Name: "fake"} }
func (f *fake) Setup(context.Context, method.SetupRequest) (method.SetupResponse, error) {
	return method.SetupResponse{}, nil
}
func (f *fake) Step(context.Context, method.StepRequest) (method.StepResponse, error) {
	return method.StepResponse{}, nil
}
func (f *fake) Save(context.Context) ([]byte, error) { return nil, nil }
func (f *fake) Load(context.Context, []byte) error   { return nil }
func (f *fake) Close() error                         { return nil }

func (f *fake) Loss(_ context.Context, in method.LossInput) (method.LossOutput, error) {
	if f.panic {
		panic("boom")
	}
	out := method.LossOutput{Loss: f.loss, Grads: method.Tensors{}, State: method.Tensors{}}
	for k, g := range f.grads {
		x, err := tensor.FromFloat64(g.Data, g.Shape...)
		if err != nil {
			return out, err
		}
		out.Grads[k] = x
	}
	for k, s := range f.ints {
		v := make([]int64, len(s.Data))
		for i, d := range s.Data {
			v[i] = int64(d)
		}
		x, err := tensor.FromInt64(v, s.Shape...)
		if err != nil {
			return out, err
		}
		out.State[k] = x
	}
	return out, nil
}

func sampleCase() Case {
	return Case{
		Method: "fake", Name: "fake-case",
		Params: method.Params{"detached": []any{"y"}},
		Inputs: map[string]Tensor{
			"x": {Shape: []int64{2, 2}, DType: "float64", Data: []float64{1, 2, 3, 4}},
			"y": {Shape: []int64{2}, DType: "float64", Data: []float64{5, 6}},
		},
		Outputs: Outputs{
			Loss:  1.5,
			Grads: map[string]Tensor{"x": {Shape: []int64{2, 2}, DType: "float64", Data: []float64{0.1, -0.2, 0, 1e3}}},
			State: map[string]Tensor{"ptr": {Shape: []int64{1}, DType: "int64", Data: []float64{8}}},
		},
		Tolerance: Tolerance{RTol: 1e-6, ATol: 1e-8},
	}
}

// exact returns a fake that reproduces c's outputs.
func exact(c Case) *fake {
	f := &fake{loss: c.Outputs.Loss, grads: map[string]Tensor{}, ints: map[string]Tensor{}}
	for k, g := range c.Outputs.Grads {
		g.Data = append([]float64(nil), g.Data...)
		f.grads[k] = g
	}
	for k, s := range c.Outputs.State {
		f.ints[k] = s
	}
	return f
}

func TestComparisonRule(t *testing.T) {
	c := sampleCase()
	bound := func(b float64) float64 { return c.Tolerance.ATol + c.Tolerance.RTol*math.Abs(b) }
	cases := []struct {
		name   string
		change func(f *fake)
		pass   bool
	}{
		{"exact", func(*fake) {}, true},
		{"loss within tolerance", func(f *fake) { f.loss += 0.9 * bound(1.5) }, true},
		{"loss beyond tolerance", func(f *fake) { f.loss += 1.1 * bound(1.5) }, false},
		{"grad within tolerance", func(f *fake) { f.grads["x"].Data[3] += 0.9 * bound(1e3) }, true},
		{"grad beyond tolerance", func(f *fake) { f.grads["x"].Data[3] += 1.1 * bound(1e3) }, false},
		{"zero grad: atol only", func(f *fake) { f.grads["x"].Data[2] = 2e-8 }, false},
		{"NaN loss", func(f *fake) { f.loss = math.NaN() }, false},
		{"NaN grad", func(f *fake) { f.grads["x"].Data[0] = math.NaN() }, false},
		{"infinite grad", func(f *fake) { f.grads["x"].Data[1] = math.Inf(-1) }, false},
		{"missing grad", func(f *fake) { delete(f.grads, "x") }, false},
		{"missing state", func(f *fake) { delete(f.ints, "ptr") }, false},
		{"grad shape mismatch", func(f *fake) {
			f.grads["x"] = Tensor{Shape: []int64{4}, Data: []float64{0.1, -0.2, 0, 1e3}}
		}, false},
		{"int state off by one", func(f *fake) { f.ints["ptr"] = Tensor{Shape: []int64{1}, Data: []float64{9}} }, false},
		{"extra grad for a detached input is ignored", func(f *fake) {
			f.grads["y"] = Tensor{Shape: []int64{2}, Data: []float64{math.NaN(), 7}}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := exact(c)
			tc.change(f)
			r := Run(t.Context(), f, c)
			if r.Pass != tc.pass {
				t.Errorf("pass = %v, want %v: %s", r.Pass, tc.pass, r)
			}
			if !tc.pass && len(r.Failures) == 0 {
				t.Errorf("failing result names no failure: %s", r)
			}
		})
	}
}

func TestRunRecoversPanic(t *testing.T) {
	r := Run(t.Context(), &fake{panic: true}, sampleCase())
	if r.Pass || !strings.Contains(r.String(), "panicked") {
		t.Errorf("a panicking Loss: %s; want a FAIL that says it panicked", r)
	}
}

func writeCase(t *testing.T, dir, file string, c Case) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAndRunAll(t *testing.T) {
	dir := t.TempDir()
	good := sampleCase()
	bad := sampleCase()
	bad.Name, bad.Outputs.Loss = "fake-bad", 2.5
	other := sampleCase()
	other.Method, other.Name = "unserved", "unserved-case"
	writeCase(t, dir, "a.json", good)
	writeCase(t, dir, "b.json", bad)
	writeCase(t, dir, "c.json", other)
	cases, err := LoadCases(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 3 || cases[0].Name != "fake-bad" || cases[0].File == "" {
		t.Fatalf("loaded %d cases, first %q: want 3 sorted by method then name", len(cases), cases[0].Name)
	}
	var out bytes.Buffer
	passed, failed := RunAll(t.Context(), &out, Methods(map[string]method.Method{"fake": exact(good)}), cases)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if passed != 1 || failed != 1 || len(lines) != 3 {
		t.Fatalf("passed %d failed %d, output:\n%s", passed, failed, out.String())
	}
	if !strings.HasPrefix(lines[0], "FAIL fake-bad") || !strings.HasPrefix(lines[1], "PASS fake-case") {
		t.Errorf("case lines:\n%s", out.String())
	}
	if lines[2] != "1 passed, 1 failed" {
		t.Errorf("closing line %q, want %q", lines[2], "1 passed, 1 failed")
	}
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := LoadCases(empty); err == nil {
		t.Error("empty dir: want an error")
	}
	dup := t.TempDir()
	writeCase(t, dup, "a.json", sampleCase())
	writeCase(t, dup, "b.json", sampleCase())
	if _, err := LoadCases(dup); err == nil || !strings.Contains(err.Error(), "unique") {
		t.Errorf("duplicate case names: err = %v", err)
	}
	short := sampleCase()
	short.Inputs["x"] = Tensor{Shape: []int64{3}, Data: []float64{1}}
	bad := t.TempDir()
	writeCase(t, bad, "a.json", short)
	if _, err := LoadCases(bad); err == nil {
		t.Error("data that does not fill its shape: want an error")
	}
}

func TestBuiltinCasesLoad(t *testing.T) {
	t.Setenv(EnvCases, "")
	cases, err := LoadCases("")
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, c := range cases {
		methods[c.Method] = true
		if _, err := c.Detached(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
		for k := range c.Outputs.Grads {
			if _, ok := c.Inputs[k]; !ok {
				t.Errorf("%s: grad %q for no input", c.Name, k)
			}
		}
	}
	for _, m := range []string{"simclr", "moco", "byol", "dino", "swav"} {
		if !methods[m] {
			t.Errorf("no built-in case for %s", m)
		}
	}
	t.Logf("%d built-in cases of %d methods load", len(cases), len(methods))
}

func TestEnvOverridesBuiltinCases(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCases, dir)
	if _, err := LoadCases(""); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("an empty %s folder: got %v, want an error naming it", EnvCases, err)
	}
}

// TestBuiltinCasesMatchShared fails when the team's shared cases beside the
// checkout differ from the repository's copy (copy them over:
// cp ../shared/conformance/cases/*.json sdk/conformance/testdata/cases/).
// Without the shared folder (a user's clone) there is nothing to compare.
func TestBuiltinCasesMatchShared(t *testing.T) {
	wd, _ := os.Getwd()
	shared, err := SharedDir(wd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared cases at %s: nothing to compare the built-in copy with", shared)
	}
	files := func(fsys fs.FS) map[string][]byte {
		out := map[string][]byte{}
		names, err := fs.Glob(fsys, "*")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				t.Fatal(err)
			}
			out[n] = b
		}
		return out
	}
	sub, err := fs.Sub(builtin, builtinDir)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := files(sub), files(os.DirFS(shared))
	for n, b := range theirs {
		if mine, ok := ours[n]; !ok {
			t.Errorf("shared case %s is missing from %s: copy it over", n, builtinDir)
		} else if !bytes.Equal(mine, b) {
			t.Errorf("case %s differs from the shared one: copy it over", n)
		}
	}
	for n := range ours {
		if _, ok := theirs[n]; !ok {
			t.Errorf("%s/%s is not among the shared cases: remove it or add it to the shared folder", builtinDir, n)
		}
	}
	// The spec documents travel with the cases.
	for _, doc := range []string{"FORMAT.md", "METHODS.md"} {
		a, err1 := os.ReadFile(filepath.Join("testdata", doc))
		b, err2 := os.ReadFile(filepath.Join(filepath.Dir(shared), doc))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/%s differs from the shared one (%v, %v): copy it over", doc, err1, err2)
		}
	}
}
