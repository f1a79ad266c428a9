package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/plugin"
)

// buildTestPlugin builds sdk/plugin's toy plugin (methods toy, toy2) into a
// temporary folder.
func buildTestPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "selfsup-testplugin"), "github.com/selfsup/selfsup/sdk/plugin/internal/testplugin/cmd/selfsup-testplugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test plugin (eval \"$(sh sdk/backend/env.sh)\" first): %v\n%s", err, out)
	}
	return dir
}

// toyCase is a conformance case of the toy method: loss = mean(x^2),
// grad = 2x/n.
func toyCase(name string, loss float64) string {
	return `{"method": "toy", "case": "` + name + `", "reference": "hand-computed",
  "params": {"seed": 0, "scale": 1},
  "inputs": {"x": {"shape": [2, 2], "dtype": "float64", "data": [1, 2, 3, 4]}},
  "outputs": {"loss": ` + strings.TrimSpace(fmtFloat(loss)) + `, "grads": {"x": {"shape": [2, 2], "dtype": "float64", "data": [0.5, 1, 1.5, 2]}}},
  "tolerance": {"rtol": 1e-12, "atol": 1e-12}}`
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestPluginCommands(t *testing.T) {
	bin := buildTestPlugin(t)
	cases := t.TempDir()
	if err := os.WriteFile(filepath.Join(cases, "toy-good.json"), []byte(toyCase("toy-good", 7.5)), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	for name, loss := range map[string]float64{"toy-good": 7.5, "toy-bad": 7.25} {
		if err := os.WriteFile(filepath.Join(bad, name+".json"), []byte(toyCase(name, loss)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lock := filepath.Join(t.TempDir(), "selfsup-plugins.lock")
	sum, err := plugin.FileSHA256(filepath.Join(bin, "selfsup-testplugin"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderrIn []string
	}{
		{"list", []string{"list", bin}, 0, []string{"BINARY", "selfsup-testplugin", "toy,toy2", sum}, nil},
		{"lock", []string{"lock", "--out", lock, bin}, 0, []string{sum, "locked 1 plugin(s) in " + lock}, nil},
		{"check passes", []string{"check", "--cases", cases, filepath.Join(bin, "selfsup-testplugin")}, 0, []string{"PASS toy-good", "1 passed, 0 failed"}, []string{"no conformance cases for method toy2"}},
		{"check fails", []string{"check", "--cases", bad, filepath.Join(bin, "selfsup-testplugin")}, 1, []string{"FAIL toy-bad", "PASS toy-good", "1 passed, 1 failed"}, nil},
		{"params of a binary", []string{"params", filepath.Join(bin, "selfsup-testplugin")}, 0, []string{"toy\n", "toy2\n", "PARAM", "lr", "0.05", "learning rate of the toy's weights"}, nil},
		{"params in process", []string{"params", "--in-process", "simclr", "moco"}, 0, []string{"simclr\n", "temperature", "0.5", "NT-Xent temperature (> 0)", "moco\n", "K", "4096"}, nil},
		{"params of no method", []string{"params", "--in-process", "nosuch"}, 1, nil, []string{`no built-in method "nosuch"`}},
		{"unknown", []string{"frob"}, 2, nil, []string{`unknown command "frob"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runPlugin(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout does not show %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.stderrIn {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not show %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	l, err := plugin.ReadLockFile(lock)
	if err != nil || l.Plugins["selfsup-testplugin"].SHA256 != sum {
		t.Fatalf("lock file: %+v, %v", l, err)
	}
}
