package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin/internal/testplugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// testBinDir holds selfsup-testplugin, built once by TestMain.
var testBinDir string

const testBinary = "selfsup-testplugin"

func TestMain(m *testing.M) {
	// A prebuilt test plugin (a test binary run on another machine).
	if dir := os.Getenv("SELFSUP_TEST_PLUGIN_DIR"); dir != "" {
		testBinDir = dir
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "selfsup-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, testBinary), "./internal/testplugin/cmd/selfsup-testplugin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the test plugin (did you eval \"$(sh sdk/backend/env.sh)\"?):", err)
		os.Exit(1)
	}
	testBinDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testD = 128

// testOptions search the test plugin's folder.
func testOptions(t *testing.T) Options {
	return Options{Dirs: []string{testBinDir}, StartTimeout: 30 * time.Second}
}

func openToy(t *testing.T, opts Options, cfg method.Params) *Method {
	t.Helper()
	ctx := context.Background()
	m, err := Open(ctx, "toy", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {testD}}, Config: cfg, Seed: 3, Device: "cpu"}); err != nil {
		t.Fatal(err)
	}
	return m
}

func features(t *testing.T, n, d int64, dtype gotch.DType, seed float64) *ts.Tensor {
	t.Helper()
	v := make([]float64, n*d)
	for i := range v {
		v[i] = float64((int64(i)*7919+int64(seed*13))%1000)/1000 - 0.5
	}
	x, err := tensor.FromFloat64(v, n, d)
	if err != nil {
		t.Fatal(err)
	}
	if dtype != gotch.Double {
		x = x.MustTotype(dtype, true)
	}
	return x
}

func values(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	v, err := tensor.AsFloat64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return 1e300
	}
	m := 0.0
	for i := range a {
		m = max(m, abs(a[i]-b[i]))
	}
	return m
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestParamsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"float", 0.5, 0.5},
		{"json integer stays a number", 4096.0, 4096.0},
		{"int64", int64(7), int64(7)},
		{"int becomes int64", 7, int64(7)},
		{"bool", true, true},
		{"string", "cosine", "cosine"},
		{"int list", []int64{1, 2, 3}, []int64{1, 2, 3}},
		{"json int list", []any{1.0, 2.0}, []int64{1, 2}},
		{"json string list (detached)", []any{"k", "queue"}, []string{"k", "queue"}},
		{"json float list", []any{0.5, 2.0}, []float64{0.5, 2}},
		{"string list", []string{"a"}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := paramsToProto(method.Params{"k": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			got, err := paramsFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T %v", got["k"], got["k"]) != fmt.Sprintf("%T %v", tc.want, tc.want) {
				t.Fatalf("round trip of %T %v gave %T %v, want %T %v", tc.in, tc.in, got["k"], got["k"], tc.want, tc.want)
			}
		})
	}
	if _, err := paramsToProto(method.Params{"bad": map[string]int{}}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("a map param should be refused naming it, got %v", err)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	spec := method.Spec{
		Name:         "full",
		Views:        []method.View{{Name: "q", Recipe: "mocov2", Size: 24, Online: true}, {Name: "k", Recipe: "mocov2", Target: true, Modality: "L"}, {Name: "g", Recipe: "cpcv2", Size: 32, Online: true, Grid: &method.Grid{Patch: 8, Stride: 4, PatchRecipe: "cpcv2-patch"}}},
		Target:       &method.Target{Momentum: 0.99, Schedule: method.Cosine, FinalMomentum: 1, Inference: true},
		Taps:         []method.Tap{{Name: "patches", Kind: method.Patches, Layers: []string{"layer1", "layer2"}, Patches: 256}},
		PseudoLabels: []string{"rotation"},
		SampleIDs:    true,
		Modalities:   []string{"L", "ab"},
		Defaults:     method.Params{"T": 0.2, "K": int64(4096), "detached": []string{"k"}},
		Docs:         map[string]string{"T": "temperature", "K": "queue length"},
	}
	p, err := specToProto(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := specFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(spec)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Fatalf("spec round trip:\n got %s\nwant %s", b, a)
	}
}

func TestListDescribesBinaries(t *testing.T) {
	dir := t.TempDir()
	mustLink(t, filepath.Join(testBinDir, testBinary), filepath.Join(dir, testBinary))
	// A selfsup-* executable that is not a plugin is listed with an error.
	if err := os.WriteFile(filepath.Join(dir, "selfsup-notaplugin"), []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Files not named selfsup-* are ignored.
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bins, err := List(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 2 {
		t.Fatalf("List found %d binaries, want 2: %+v", len(bins), bins)
	}
	bad, good := bins[0], bins[1]
	if bad.Name != "selfsup-notaplugin" || bad.Err == nil {
		t.Fatalf("non-plugin: %+v, want an error", bad)
	}
	sum, err := FileSHA256(filepath.Join(testBinDir, testBinary))
	if err != nil {
		t.Fatal(err)
	}
	if good.Err != nil || good.Name != testBinary || good.SHA256 != sum || good.ProtocolVersion != ProtocolVersion {
		t.Fatalf("plugin: %+v (err %v), want sha %s, protocol %d", good, good.Err, sum, ProtocolVersion)
	}
	if got := strings.Join(good.MethodNames(), ","); got != "toy,toy2" {
		t.Fatalf("methods %s, want toy,toy2", got)
	}
	want := testplugin.New("toy").Spec()
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(good.Methods[0].Spec)
	if !bytes.Equal(a, b) {
		t.Fatalf("listed spec %s, want %s", b, a)
	}
}

func mustLink(t *testing.T, src, dst string) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, raw, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestOpenResolvesMethods(t *testing.T) {
	ctx := context.Background()
	bin := filepath.Join(testBinDir, testBinary)
	tests := []struct {
		name    string
		ref     string
		method  string
		want    string // method name, or "" for an error
		wantErr string
	}{
		{"by method name", "toy", "", "toy", ""},
		{"second method of the family", "toy2", "", "toy2", ""},
		{"by binary name", testBinary, "toy2", "toy2", ""},
		{"by path with method", bin, "toy", "toy", ""},
		{"by path, several methods", bin, "", "", "serves [toy toy2]"},
		{"unknown method", "nosuch", "", "", `no plugin serves method "nosuch"`},
		{"missing path", "/no/such/selfsup-x", "", "", "not an executable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.Method = tc.method
			m, err := Open(ctx, tc.ref, opts)
			if tc.wantErr != "" {
				if err == nil {
					m.Close()
					t.Fatalf("Open(%q) worked, want an error with %q", tc.ref, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Name() != tc.want || m.Spec().Name != tc.want || m.ProtocolVersion() != ProtocolVersion {
				t.Fatalf("opened %s (spec %s, protocol %d), want %s", m.Name(), m.Spec().Name, m.ProtocolVersion(), tc.want)
			}
		})
	}
}

func TestSearchDirsOrder(t *testing.T) {
	t.Setenv(EnvPath, "/a:/b")
	dirs := SearchDirs()
	if len(dirs) < 3 || dirs[0] != "/a" || dirs[1] != "/b" {
		t.Fatalf("SearchDirs = %v, want /a, /b first", dirs)
	}
	wd, _ := os.Getwd()
	repoBin := filepath.Join(filepath.Dir(filepath.Dir(wd)), "bin") // sdk/plugin -> repo
	if dirs[2] != repoBin {
		t.Fatalf("SearchDirs[2] = %s, want the repository's bin %s", dirs[2], repoBin)
	}
}

// TestStepMatchesInProcess runs the same training in process and through
// the plugin: losses, gradients, metrics and saved state agree.
func TestStepMatchesInProcess(t *testing.T) {
	ctx := context.Background()
	pm := openToy(t, testOptions(t), method.Params{"lr": 0.5})
	im := testplugin.New("toy")
	defer im.Close()
	if _, err := im.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {testD}}, Config: method.Params{"lr": 0.5}, Seed: 3, Device: "cpu"}); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(im.Spec())
	b, _ := json.Marshal(pm.Spec())
	if !bytes.Equal(a, b) {
		t.Fatalf("plugin spec %s, in-process spec %s", b, a)
	}
	for step := range 3 {
		for _, dt := range []gotch.DType{gotch.Float, gotch.Double} {
			x := features(t, 16, testD, dt, float64(step))
			req := method.StepRequest{Step: int64(step), Train: dt == gotch.Float, Features: method.Tensors{"v1/pooled": x}}
			want, err := im.Step(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pm.Step(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			g := got.Grads["v1/pooled"]
			if g.DType() != dt || g.MustDevice() != x.MustDevice() {
				t.Fatalf("grad dtype %v on %v, want %v on %v", g.DType(), g.MustDevice(), dt, x.MustDevice())
			}
			if d := maxDiff(values(t, g), values(t, want.Grads["v1/pooled"])); d > 1e-6 || abs(got.Loss-want.Loss) > 1e-6 || abs(got.Metrics["w_norm"]-want.Metrics["w_norm"]) > 1e-5 {
				t.Fatalf("step %d %v: loss %v vs %v, grad diff %g, w_norm %v vs %v", step, dt, got.Loss, want.Loss, d, got.Metrics["w_norm"], want.Metrics["w_norm"])
			}
			want.Grads.Drop()
			got.Grads.Drop()
			x.MustDrop()
		}
	}
	si, err := im.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := pm.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(si) != len(sp) || string(si[:36]) != string(sp[:36]) {
		t.Fatalf("saved states differ in header or size")
	}
}

func TestLossKeepsFloat64(t *testing.T) {
	ctx := context.Background()
	m := openToy(t, testOptions(t), nil)
	tests := []struct {
		name     string
		dtype    gotch.DType
		detached []string
		scale    float64
	}{
		{"float64", gotch.Double, nil, 1},
		{"float32", gotch.Float, nil, 2},
		{"detached", gotch.Double, []string{"x"}, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := features(t, 4, 8, tc.dtype, 1)
			defer x.MustDrop()
			out, err := m.Loss(ctx, method.LossInput{Inputs: method.Tensors{"x": x}, Params: method.Params{"scale": tc.scale, "detached": []any{"x"}}, Detached: tc.detached})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Drop()
			xs := values(t, x)
			want := 0.0
			for _, v := range xs {
				want += v * v
			}
			want *= tc.scale / float64(len(xs))
			if abs(out.Loss-want) > 1e-6*abs(want) {
				t.Fatalf("loss %v, want %v", out.Loss, want)
			}
			calls, err := tensor.Int64s(out.State["calls"])
			if err != nil || calls[0] != int64(i+1) {
				t.Fatalf("state calls %v (%v), want %d", calls, err, i+1)
			}
			if tc.detached != nil {
				if len(out.Grads) != 0 {
					t.Fatalf("grads %v for a detached input", out.Grads.Names())
				}
				return
			}
			g := out.Grads["x"]
			if g.DType() != tc.dtype {
				t.Fatalf("grad dtype %v, want %v", g.DType(), tc.dtype)
			}
			gv := values(t, g)
			for j := range gv {
				if w := 2 * tc.scale * xs[j] / float64(len(xs)); abs(gv[j]-w) > 1e-6 {
					t.Fatalf("grad[%d] = %v, want %v", j, gv[j], w)
				}
			}
			if tc.dtype == gotch.Double && gv[1] != 2*tc.scale*xs[1]/float64(len(xs)) {
				t.Fatalf("float64 gradient lost precision: %v vs %v", gv[1], 2*tc.scale*xs[1]/float64(len(xs)))
			}
		})
	}
}

// TestLargeTensorRoundTrip sends a 64 MiB float32 tensor and gets its 64 MiB
// gradient back (gRPC's default limit is 4 MiB).
func TestLargeTensorRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB round trip")
	}
	ctx := context.Background()
	m := openToy(t, testOptions(t), nil)
	const n = 16 << 20 // float32 elements: 64 MiB
	x := features(t, n/1024, 1024, gotch.Float, 2)
	defer x.MustDrop()
	out, err := m.Loss(ctx, method.LossInput{Inputs: method.Tensors{"x": x}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Drop()
	g := out.Grads["x"]
	if got := g.Numel() * g.DType().Size(); got != 64<<20 {
		t.Fatalf("gradient of %d bytes, want 64 MiB", got)
	}
	xs, gs := values(t, x), values(t, g)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		if w := 2 * xs[i] / n; abs(gs[i]-w) > 1e-12 {
			t.Fatalf("grad[%d] = %v, want %v", i, gs[i], w)
		}
	}
}

func TestBadRepliesAreRejected(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		fault string
		want  []string
	}{
		{"shape", []string{"method toy", `"v1/pooled"`, "shape [16 1]", "want [16 128]"}},
		{"dtype", []string{"method toy", `"v1/pooled"`, "DTYPE_FLOAT64", "want DTYPE_FLOAT32"}},
		{"nan", []string{"method toy", "non-finite loss NaN"}},
		{"missing", []string{"method toy", `no gradient for "v1/pooled"`}},
		{"panic", []string{"method toy", "Step panicked", "asked to panic"}},
	}
	for _, tc := range tests {
		t.Run(tc.fault, func(t *testing.T) {
			m := openToy(t, testOptions(t), method.Params{"fault": tc.fault})
			x := features(t, 16, testD, gotch.Float, 0)
			defer x.MustDrop()
			resp, err := m.Step(ctx, method.StepRequest{Train: true, Features: method.Tensors{"v1/pooled": x}})
			if err == nil {
				resp.Grads.Drop()
				t.Fatalf("fault %s: Step accepted the reply", tc.fault)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// The process survives a bad reply (and a panic).
			if _, err := m.Save(ctx); err != nil {
				t.Fatalf("Save after a bad reply: %v", err)
			}
		})
	}
}

func TestDeathMidCallNamesPluginAndCall(t *testing.T) {
	ctx := context.Background()
	m := openToy(t, testOptions(t), method.Params{"fault": "exit"})
	x := features(t, 16, testD, gotch.Float, 0)
	defer x.MustDrop()
	_, err := m.Step(ctx, method.StepRequest{Train: true, Features: method.Tensors{"v1/pooled": x}})
	var died *DiedError
	if !errors.As(err, &died) {
		t.Fatalf("Step on a dying plugin: %v, want a *DiedError", err)
	}
	if died.Plugin != testBinary || died.Method != "toy" || died.Call != "Step" {
		t.Fatalf("DiedError %+v, want plugin %s, method toy, call Step", died, testBinary)
	}
	for _, w := range []string{testBinary, "died during Step", "Restart"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestRestartRecoversSavedState kills the plugin between steps: the next
// step reports the death, Restart brings the method back with the state
// last saved, and training goes on (by hand, then automatically).
func TestRestartRecoversSavedState(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t)
	m := openToy(t, opts, nil)
	x := features(t, 16, testD, gotch.Float, 0)
	defer x.MustDrop()
	step := func() error {
		resp, err := m.Step(ctx, method.StepRequest{Train: true, Features: method.Tensors{"v1/pooled": x}})
		if err == nil {
			resp.Grads.Drop()
		}
		return err
	}
	for range 3 {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	saved, err := m.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := step(); err != nil { // state moves past the save
		t.Fatal(err)
	}
	kill := func() {
		pid := m.proc.pid()
		if pid == 0 {
			t.Fatal("no pid for the plugin process")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		m.proc.exited(5 * time.Second)
	}
	kill()
	err = step()
	var died *DiedError
	if !errors.As(err, &died) || died.Call != "Step" {
		t.Fatalf("step after kill: %v, want a DiedError during Step", err)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := m.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, saved) {
		t.Fatalf("state after restart differs from the saved one (%d vs %d bytes)", len(got), len(saved))
	}
	if err := step(); err != nil {
		t.Fatalf("training after restart: %v", err)
	}

	// With MaxRestarts the wrapper restarts and retries by itself, but only
	// while the state it would reload is the state the process had: right
	// after a Save.
	m.opts.MaxRestarts = 2
	if _, err := m.Save(ctx); err != nil {
		t.Fatal(err)
	}
	kill()
	if err := step(); err != nil {
		t.Fatalf("step with MaxRestarts=2 after a kill right after a Save: %v", err)
	}
	// That step moved the state past the save: a restart would silently
	// lose it, so the wrapper does not retry and says so.
	kill()
	err = step()
	if !errors.As(err, &died) || !died.StateLost || !errors.Is(err, method.ErrDied) {
		t.Fatalf("kill after a training step: %v, want a DiedError with StateLost that is method.ErrDied", err)
	}
	if !strings.Contains(err.Error(), "state since it was last saved is lost") {
		t.Errorf("error %q does not say the state is lost", err)
	}
}

func TestContextCancellation(t *testing.T) {
	m := openToy(t, testOptions(t), method.Params{"sleep_ms": 5000.0})
	x := features(t, 16, testD, gotch.Float, 0)
	defer x.MustDrop()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Step(ctx, method.StepRequest{Features: method.Tensors{"v1/pooled": x}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Step past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cancelled Step returned after %v", el)
	}
	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, err := m.Save(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with a cancelled context: %v", err)
	}
	if _, err := Open(done, "toy", testOptions(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v", err)
	}
}

func TestLockFilePinsBinaries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, testBinary)
	mustLink(t, filepath.Join(testBinDir, testBinary), bin)
	lockPath := filepath.Join(dir, "selfsup-plugins.lock")
	l, err := Lock(ctx, lockPath, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := FileSHA256(bin)
	if e := l.Plugins[testBinary]; e.SHA256 != sum || strings.Join(e.Methods, ",") != "toy,toy2" {
		t.Fatalf("lock entry %+v, want sha %s and methods toy,toy2", e, sum)
	}
	read, err := ReadLockFile(lockPath)
	if err != nil || read.Plugins[testBinary].SHA256 != sum {
		t.Fatalf("lock file read back: %+v, %v", read, err)
	}
	opts := Options{Dirs: []string{dir}, LockFile: lockPath}
	m, err := Open(ctx, "toy", opts)
	if err != nil {
		t.Fatalf("Open of a locked binary: %v", err)
	}
	m.Close()

	// Change the binary: refused, naming it and both hashes.
	f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	changed, _ := FileSHA256(bin)
	_, err = Open(ctx, "toy", opts)
	if !errors.Is(err, ErrLockMismatch) {
		t.Fatalf("Open of a changed binary: %v, want ErrLockMismatch", err)
	}
	for _, w := range []string{testBinary, sum, changed, "selfsup plugin lock"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	// go-plugin's SecureConfig enforces the same pin at start.
	p, err := startProcess(ctx, bin, processConfig{log: zerolog.Nop(), pin: &pin{lockPath: lockPath, sum: mustHex(t, sum)}})
	if err == nil {
		p.kill()
		t.Fatal("SecureConfig let a changed binary start")
	} else if !errors.Is(err, ErrLockMismatch) {
		t.Fatalf("SecureConfig refusal: %v, want ErrLockMismatch", err)
	}
	// A binary the lock does not list is refused too.
	if err := os.WriteFile(lockPath, []byte(`{"version":1,"plugins":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, bin, Options{Method: "toy", LockFile: lockPath}); !errors.Is(err, ErrLockMismatch) || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("Open of an unlisted binary: %v", err)
	}
	// RequireLock without a lock file.
	if _, err := Open(ctx, bin, Options{Method: "toy", LockFile: "", RequireLock: true}); err == nil || !strings.Contains(err.Error(), "selfsup plugin lock") {
		t.Fatalf("RequireLock without a lock file: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPluginLogsReachHostLogger(t *testing.T) {
	var lines []map[string]any
	done := make(chan struct{}, 100)
	sink := &lineWriter{log: func(l string) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
			if m["message"] == "toy step" {
				done <- struct{}{}
			}
		}
	}}
	log := zerolog.New(sink).Level(zerolog.DebugLevel)
	opts := testOptions(t)
	opts.Logger = &log
	m := openToy(t, opts, method.Params{"log": true})
	x := features(t, 16, testD, gotch.Float, 0)
	defer x.MustDrop()
	resp, err := m.Step(context.Background(), method.StepRequest{Step: 41, Features: method.Tensors{"v1/pooled": x}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Grads.Drop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("no \"toy step\" line reached the host logger; got %v", lines)
	}
	m.Close()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var sawSetup, sawStep, sawHost bool
	for _, l := range lines {
		if l["plugin"] != testBinary {
			t.Errorf("log line without plugin=%s: %v", testBinary, l)
		}
		switch l["message"] {
		case "toy set up":
			sawSetup = l["level"] == "info" && l["method"] == "toy"
		case "toy step":
			sawStep = l["step"] == 41.0
		case "starting plugin":
			sawHost = true
		}
	}
	if !sawSetup || !sawStep || !sawHost {
		t.Fatalf("setup line %v, step line %v, go-plugin's own line %v in %v", sawSetup, sawStep, sawHost, lines)
	}
}
