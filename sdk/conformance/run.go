package conformance

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/plugin"
)

// Run evaluates m's Loss on case c in float64 and judges it. A Loss error
// or panic is a failing Result that says so. m need not be set up: Loss is a
// pure function of the case's inputs and params.
func Run(ctx context.Context, m method.Method, c Case) (res Result) {
	res = Result{Case: c.Name, Method: c.Method}
	failed := func(format string, args ...any) Result {
		res.Pass = false
		res.WorstErr, res.WorstRatio = math.Inf(1), math.Inf(1)
		res.Failures = append(res.Failures, fmt.Sprintf(format, args...))
		return res
	}
	in, err := c.LossInput()
	if err != nil {
		return failed("inputs: %v", err)
	}
	defer DropInput(in)
	defer func() {
		if p := recover(); p != nil {
			res = failed("Loss panicked: %v", p)
		}
	}()
	out, err := m.Loss(ctx, in)
	if err != nil {
		return failed("Loss: %v", err)
	}
	defer out.Drop()
	return Check(c, out)
}

// Lookup returns the method that serves a method id, or false when none
// does (its cases are then skipped).
type Lookup func(name string) (method.Method, bool)

// Methods is a Lookup over a map from method id to method.
func Methods(m map[string]method.Method) Lookup {
	return func(name string) (method.Method, bool) {
		x, ok := m[name]
		return x, ok
	}
}

// RunAll runs every case whose method lookup serves, writes one line per
// case to w and then the closing line "N passed, M failed", and returns
// the counts. Cases of methods lookup does not serve are skipped.
func RunAll(ctx context.Context, w io.Writer, lookup Lookup, cases []Case) (passed, failed int) {
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			fmt.Fprintf(w, "FAIL %s  not run: %v\n", c.Name, err)
			failed++
			continue
		}
		m, ok := lookup(c.Method)
		if !ok {
			continue
		}
		r := Run(ctx, m, c)
		fmt.Fprintln(w, r.String())
		if r.Pass {
			passed++
		} else {
			failed++
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed
}

// Test runs every case of ctor's method from dir ("" = the built-in cases, see LoadCases) as a
// subtest, each on a fresh method, and fails when there is no case for the
// method. It is the acceptance test a plugin author adds to their package.
func Test(t *testing.T, ctor method.Constructor, dir string) {
	t.Helper()
	all, err := LoadCases(dir)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	cases := ForMethod(all, ctor.Name)
	if len(cases) == 0 {
		t.Fatalf("conformance: no case for method %q in %s; add a case file with \"method\": %q", ctor.Name, dir, ctor.Name)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			m := ctor.New()
			defer m.Close()
			r := Run(t.Context(), m, c)
			t.Log(r.String())
			if !r.Pass {
				t.Errorf("%s", r.String())
			}
		})
	}
}

// TestPlugin is Test through the real plugin binary at bin, as `selfsup
// plugin check` runs it: every method the binary serves is opened out of
// process and every case of it from dir ("" = the built-in cases) runs
// through the plugin protocol. It fails when a method has no case or a
// case fails, and logs the report.
func TestPlugin(t *testing.T, bin, dir string) {
	t.Helper()
	ctx := t.Context()
	b := plugin.Describe(ctx, bin)
	if b.Err != nil {
		t.Fatalf("conformance: %s is not a selfsup plugin: %v", bin, b.Err)
	}
	all, err := LoadCases(dir)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	methods := map[string]method.Method{}
	var cases []Case
	for _, name := range b.MethodNames() {
		m, err := plugin.Open(ctx, bin, plugin.Options{Method: name})
		if err != nil {
			t.Fatalf("conformance: open %s of %s: %v", name, bin, err)
		}
		t.Cleanup(func() { m.Close() })
		methods[name] = m
		mine := ForMethod(all, name)
		if len(mine) == 0 {
			t.Errorf("conformance: no case for method %q in %s", name, dir)
		}
		cases = append(cases, mine...)
	}
	var out strings.Builder
	passed, failed := RunAll(ctx, &out, Methods(methods), cases)
	t.Logf("%s", out.String())
	if failed != 0 || passed != len(cases) {
		t.Errorf("%d passed, %d failed of %d cases through %s", passed, failed, len(cases), bin)
	}
}
