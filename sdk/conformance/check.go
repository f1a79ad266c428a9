package conformance

import (
	"fmt"
	"math"
	"slices"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// Result is the verdict on one case.
type Result struct {
	Case   string
	Method string
	// Pass is true when the loss and every listed grad and state tensor
	// pass FORMAT.md §6.
	Pass bool
	// WorstErr is the largest |a - b| over the loss and every compared
	// element; Where names it ("loss", "grads.z1[3]", ...).
	WorstErr float64
	Where    string
	// WorstRatio is the largest |a - b| / (atol + rtol |b|): above 1 fails.
	WorstRatio float64
	// Failures say what failed, one entry per failing output.
	Failures []string
}

// String is the one-line report of the case.
func (r Result) String() string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("%-4s %s  worst abs err %.3g", verdict, r.Case, r.WorstErr)
	if r.Where != "" {
		s += " at " + r.Where
	}
	s += fmt.Sprintf(" (%.3g of tolerance)", r.WorstRatio)
	for _, f := range r.Failures {
		s += "; " + f
	}
	return s
}

type checker struct {
	tol Tolerance
	r   *Result
}

func (k checker) fail(format string, args ...any) {
	k.r.Failures = append(k.r.Failures, fmt.Sprintf(format, args...))
}

// value compares one element a against the stored b and reports whether it
// passes.
func (k checker) value(where string, a, b float64) bool {
	bound := k.tol.ATol + k.tol.RTol*math.Abs(b)
	if math.IsNaN(a) || math.IsInf(a, 0) {
		k.r.WorstErr, k.r.WorstRatio, k.r.Where = math.Inf(1), math.Inf(1), where
		return false
	}
	d := math.Abs(a - b)
	ratio := math.Inf(1)
	if bound > 0 {
		ratio = d / bound
	} else if d == 0 {
		ratio = 0
	}
	if d > k.r.WorstErr || (d == k.r.WorstErr && k.r.Where == "") {
		k.r.WorstErr, k.r.Where = d, where
	}
	if ratio > k.r.WorstRatio {
		k.r.WorstRatio = ratio
	}
	return d <= bound
}

func (k checker) tensor(kind, name string, got *ts.Tensor, want Tensor) {
	label := kind + "." + name
	if got == nil {
		k.fail("%s missing", label)
		k.r.WorstErr, k.r.WorstRatio, k.r.Where = math.Inf(1), math.Inf(1), label
		return
	}
	shape := got.MustSize()
	if !slices.Equal(shape, want.Shape) {
		k.fail("%s has shape %s, want %s", label, shapeString(shape), shapeString(want.Shape))
		k.r.WorstErr, k.r.WorstRatio, k.r.Where = math.Inf(1), math.Inf(1), label
		return
	}
	vals, err := tensor.AsFloat64s(got)
	if err != nil {
		k.fail("%s unreadable: %v", label, err)
		return
	}
	bad, first := 0, -1
	for i, b := range want.Data {
		if !k.value(fmt.Sprintf("%s[%d]", label, i), vals[i], b) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		k.fail("%s: %d of %d elements out of tolerance (first [%d]: got %.17g, want %.17g)",
			label, bad, len(want.Data), first, vals[first], want.Data[first])
	}
}

// Check judges a method's output on case c with the rule of FORMAT.md §6:
// |a - b| <= atol + rtol |b| for the loss and every element of every grad
// and state tensor the case lists, shapes identical, no NaN or infinity,
// nothing listed missing; outputs the case does not list are ignored.
func Check(c Case, out method.LossOutput) Result {
	r := Result{Case: c.Name, Method: c.Method}
	k := checker{tol: c.Tolerance, r: &r}
	if !k.value("loss", out.Loss, c.Outputs.Loss) {
		k.fail("loss %.17g, want %.17g", out.Loss, c.Outputs.Loss)
	}
	for _, name := range sortedNames(c.Outputs.Grads) {
		k.tensor("grads", name, out.Grads[name], c.Outputs.Grads[name])
	}
	for _, name := range sortedNames(c.Outputs.State) {
		k.tensor("state", name, out.State[name], c.Outputs.State[name])
	}
	r.Pass = len(r.Failures) == 0
	return r
}
