package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"installed", nil, 0, []string{"libtorch", "1.13", "blas", "fashion-mnist", "ok"}},
		{"missing data", []string{"--fashion-mnist", t.TempDir()}, 1, []string{"MISSING", "dataset-fashion-mnist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"doctor"}, c.args...), &out, &errb)
			if code != c.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.wantCode, out.String(), errb.String())
			}
			all := out.String() + errb.String()
			for _, w := range c.wantOut {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("stderr: %s", errb.String())
	}
}

// TestHelpAndBadFlags: help that was asked for exits 0 on every command, a
// wrong flag exits 2, and no flag's help shows a sentinel default.
func TestHelpAndBadFlags(t *testing.T) {
	for name := range commands() {
		for _, tc := range []struct {
			arg  string
			want int
		}{{"--help", 0}, {"-h", 0}, {"--no-such-flag", 2}} {
			args := append(strings.Fields(name), tc.arg)
			if name == "plugin" {
				args = []string{"plugin", "list", tc.arg}
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), args, &out, &errb); code != tc.want {
				t.Errorf("selfsup %s: exit %d, want %d\n%s", strings.Join(args, " "), code, tc.want, errb.String())
			}
			if tc.want == 0 && strings.Contains(out.String()+errb.String(), "(default -1)") {
				t.Errorf("selfsup %s prints a sentinel default:\n%s", strings.Join(args, " "), errb.String())
			}
		}
	}
}
