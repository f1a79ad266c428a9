package cli

import (
	"bytes"
	"context"
	"fmt"
	"image/gif"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, 2, "usage: selfsup-rl"},
		{"help", []string{"help"}, 0, "record"},
		{"unknown command", []string{"train-me"}, 2, "unknown command"},
		{"envs", []string{"envs"}, 0, "ball-in-cup-catch"},
		{"envs json", []string{"envs", "--json"}, 0, `"ControlDt": 0.01`},
		{"record without out", []string{"record", "--env", "cartpole-swingup"}, 2, "--out is required"},
		{"record unknown env", []string{"record", "--env", "cartpole-fly", "--out", "x.gif"}, 2, "unknown environment"},
		{"record bad style", []string{"record", "--env", "cartpole-swingup", "--style", "shiny", "--out", "x.gif"}, 2, "unknown style"},
		{"record bad policy", []string{"record", "--env", "cartpole-swingup", "--policy", "smart", "--out", "x.gif"}, 2, "unknown policy"},
		{"watch without env", []string{"watch"}, 2, "--env is required"},
		{"watch a run without checkpoint", []string{"watch", "--run", "/nonexistent"}, 1, "give the folder of a run"},
		{"eval without run", []string{"eval"}, 2, "--run is required"},
		{"stray argument", []string{"envs", "extra"}, 2, "unexpected arguments"},
		{"train help", []string{"train", "--help"}, 0, "ENVIRONMENT steps"},
		{"train unknown agent", []string{"train", "--agent", "dqn"}, 2, "unknown agent"},
		{"train unknown env", []string{"train", "--env", "cartpole-fly", "--agent", "state-sac"}, 1, "unknown environment"},
		{"train state with a method", []string{"train", "--agent", "state-sac", "--method", "curl", "--in-process"}, 1, "train on pixels"},
		{"train a method the runner cannot feed", []string{"train", "--agent", "pixel-sac", "--method", "dino", "--in-process", "--env-steps", "80"}, 1, "two random crops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.contains) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out+errs, tc.code, tc.contains)
			}
		})
	}
}

func TestRecordWritesGIFs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "reacher.gif")
	code, _, errs := run(t, "record", "--env", "reacher-easy", "--style", "textured", "--out", out, "--size", "48", "--steps", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := gif.DecodeAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if g.Config.Width != 48 || len(g.Image) == 0 {
		t.Errorf("GIF %dx%d with %d frames", g.Config.Width, g.Config.Height, len(g.Image))
	}
	code, _, errs = run(t, "record", "--env", "pendulum-swingup", "--style", "all", "--out", dir, "--size", "32", "--steps", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, n := range []string{"pendulum-swingup_flat.gif", "pendulum-swingup_textured.gif"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("missing %s: %v", n, err)
		}
	}
}

// TestTrainWritesTheRun: a tiny state-SAC run through the command line
// (one episode: 125 agent steps at action repeat 8) evaluates every 200
// environment steps and leaves its files and a checkpoint; --resume on
// the finished run reports it again, and refuses other settings.
func TestTrainWritesTheRun(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "train", "--env", "cartpole-balance", "--agent", "state-sac", "--env-steps", "1000", "--seed-steps", "20", "--hidden", "16",
		"--batch", "8", "--eval-every", "200", "--eval-episodes", "1", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "return") || !strings.Contains(out, "at 1000 env steps") {
		t.Errorf("stdout %q: want the last evaluation at 1000 env steps", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "eval.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 7 || !strings.HasPrefix(lines[6], "1000,") {
		t.Errorf("eval.csv:\n%s\nwant a header and evaluations every 200 env steps to 1000", b)
	}
	for _, f := range []string{"curve.png", "eval.jsonl", "train.jsonl", "checkpoint/state.json", "checkpoint/replay.bin", "checkpoint/agent.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// resuming the finished run takes no step and reports the same result
	code, again, errs := run(t, "train", "--env", "cartpole-balance", "--agent", "state-sac", "--env-steps", "1000", "--seed-steps", "20", "--hidden", "16",
		"--batch", "8", "--eval-every", "200", "--eval-episodes", "1", "--out", dir, "--resume")
	if code != 0 || again != out {
		t.Errorf("resumed: exit %d, stdout %q, want %q (%s)", code, again, out, errs)
	}
	// the checkpoint's agent evaluates as the run's last evaluation did
	code, ev, errs := run(t, "eval", "--run", dir, "--episodes", "1")
	if code != 0 || !strings.Contains(ev, "after 1000 env steps") {
		t.Errorf("eval: exit %d, stdout %q (%s)", code, ev, errs)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "eval.csv"))
	last, err := strconv.ParseFloat(strings.Split(strings.Split(strings.TrimSpace(string(b)), "\n")[6], ",")[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("return %.1f ", last); !strings.Contains(ev, want) {
		t.Errorf("eval says %q, the run's last evaluation %v", ev, last)
	}
	if _, err := os.Stat(filepath.Join(dir, "gifs", "eval-final.gif")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gifs", "eval-00001000.gif")); err != nil {
		t.Error(err)
	}
	// another setting is refused, not mixed into the run
	code, _, errs = run(t, "train", "--env", "cartpole-balance", "--agent", "state-sac", "--env-steps", "2000", "--seed-steps", "20", "--hidden", "16",
		"--batch", "8", "--eval-every", "200", "--eval-episodes", "1", "--out", dir, "--resume")
	if code != 1 || !strings.Contains(errs, "same settings") {
		t.Errorf("resumed with other settings: exit %d, stderr %q", code, errs)
	}
}

func TestViewerWithoutDisplaySaysWhatToDo(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	code, _, errs := run(t, "play", "--env", "cartpole-swingup")
	if code != 1 || !(strings.Contains(errs, "xvfb-run") || strings.Contains(errs, "CGO_ENABLED=1")) {
		t.Errorf("exit %d, stderr %q; want a failure that says how to get a display", code, errs)
	}
}
