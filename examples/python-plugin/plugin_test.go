// Package pythonplugin_test is the acceptance test of the Python method
// plugin selfsup-pysimclr: the host's `selfsup plugin check` on the simclr
// conformance cases, the conformance kit's training-step checks through
// the plugin, and a short `selfsup pretrain` through it.
package pythonplugin_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/train"
)

// python is the interpreter of the plugin's shebang.
const python = "/usr/bin/python3"

const pluginFile = "selfsup-pysimclr"

// needPython skips the test when python lacks a package the plugin
// imports, naming the Debian packages that provide them.
func needPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, torch, numpy, cryptography, google.protobuf").CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Skipf("%s cannot run the Python plugin (%s); install python3-grpcio python3-torch python3-cryptography python3-protobuf (make setup)", python, lines[len(lines)-1])
	}
}

func pluginPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(pluginFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var host struct {
	once sync.Once
	path string
	err  error
}

// selfsup builds the host CLI once for the package's tests.
func selfsup(t *testing.T) string {
	t.Helper()
	host.once.Do(func() {
		dir, err := os.MkdirTemp("", "pyplugin-host")
		if err != nil {
			host.err = err
			return
		}
		host.path = filepath.Join(dir, "selfsup")
		cmd := exec.Command("go", "build", "-o", host.path, "./hosts/selfsup")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			host.err = fmt.Errorf("build the selfsup host: %v\n%s", err, out)
		}
	})
	if host.err != nil {
		t.Fatal(host.err)
	}
	return host.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if host.path != "" {
		os.RemoveAll(filepath.Dir(host.path))
	}
	os.Exit(code)
}

// TestPluginCheck runs `selfsup plugin check` on the plugin: every simclr
// case of the host's conformance cases (the built-in copy unless
// $SELFSUP_CONFORMANCE_CASES says otherwise), through Loss in float64, out
// of process.
func TestPluginCheck(t *testing.T) {
	needPython(t)
	out, err := exec.Command(selfsup(t), "plugin", "check", pluginPath(t)).CombinedOutput()
	t.Logf("selfsup plugin check:\n%s", out)
	if err != nil {
		t.Fatalf("plugin check failed: %v", err)
	}
	m := regexp.MustCompile(`(?m)^(\d+) passed, 0 failed$`).FindSubmatch(out)
	if m == nil || string(m[1]) == "0" {
		t.Fatalf("want every simclr case to pass, got:\n%s", out)
	}
}

// lazyMethod is a method.Method that starts its plugin process on Setup,
// so that the step checks, which make methods only to read their Spec,
// start no process for them.
type lazyMethod struct {
	path string
	spec method.Spec
	*plugin.Method
}

func (l *lazyMethod) Spec() method.Spec { return l.spec }

func (l *lazyMethod) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if l.Method == nil {
		m, err := plugin.Open(ctx, l.path, plugin.Options{})
		if err != nil {
			return method.SetupResponse{}, err
		}
		l.Method = m
	}
	return l.Method.Setup(ctx, req)
}

func (l *lazyMethod) Close() error {
	if l.Method == nil {
		return nil
	}
	return l.Method.Close()
}

// TestStep runs the conformance kit's step checks through the plugin: a
// finite loss with gradients of the features' shapes, a loss that falls on
// one batch, evaluation steps that change nothing, and Save, Load into a
// fresh process continuing exactly (and a truncated state refused). The
// memory check is skipped: it measures this process, not the plugin.
func TestStep(t *testing.T) {
	needPython(t)
	path := pluginPath(t)
	b := plugin.Describe(t.Context(), path)
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	if b.ProtocolVersion != plugin.ProtocolVersion || len(b.Methods) != 1 || b.Methods[0].Name != "simclr" {
		t.Fatalf("plugin serves %v at protocol %d, want simclr at %d", b.MethodNames(), b.ProtocolVersion, plugin.ProtocolVersion)
	}
	spec := b.Methods[0].Spec
	ctor := method.Constructor{Name: "simclr", New: func() method.Method { return &lazyMethod{path: path, spec: spec} }}
	conformance.TestStep(t, ctor, conformance.StepOptions{MemorySteps: -1})
}

// TestPretrain pre-trains convnet-s for a few steps through the plugin with
// the host CLI and checks the loss: finite at every step, and lower at the
// end than at the start; then resumes the run from its checkpoint.
func TestPretrain(t *testing.T) {
	needPython(t)
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(selfsup(t), "pretrain", "--method", pluginPath(t), "--steps", "30", "--batch-size", "64",
		"--subset", "1920", "--no-eval", "--out", out)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("selfsup pretrain through the plugin: %v\n%s", err, log)
	}
	recs, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 30 {
		t.Fatalf("%d metrics records, want 30", len(recs))
	}
	mean := func(rs []train.Record) float64 {
		s := 0.0
		for _, r := range rs {
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				t.Fatalf("step %d: loss %v", r.Step, r.Loss)
			}
			s += r.Loss
		}
		return s / float64(len(rs))
	}
	first, last := mean(recs[:5]), mean(recs[len(recs)-5:])
	t.Logf("loss: mean of steps 1-5 %.4f, of steps 26-30 %.4f", first, last)
	if !(last < first) {
		t.Errorf("loss did not fall: mean of the first 5 steps %.4f, of the last 5 %.4f", first, last)
	}
	// Resume from the checkpoint: the plugin's Save, Load in a new process.
	resume := exec.Command(selfsup(t), "pretrain", "--method", pluginPath(t), "--steps", "33", "--batch-size", "64",
		"--subset", "1920", "--no-eval", "--out", out, "--resume")
	if log, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("selfsup pretrain --resume through the plugin: %v\n%s", err, log)
	}
	if recs, err = train.ReadMetrics(filepath.Join(out, train.MetricsFile)); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 33 {
		t.Fatalf("%d metrics records after resuming to step 33, want 33", len(recs))
	}
	mean(recs[30:])
}
