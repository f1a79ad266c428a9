// Package conformance is selfsup's acceptance kit for methods: it loads the
// golden cases (built in: testdata/cases, a byte-identical copy of the
// team's shared conformance cases; format: testdata/FORMAT.md, roles:
// testdata/METHODS.md), evaluates
// a method.Method's Loss on each case's inputs in float64, and judges the
// loss, gradients and state with the normative rule of FORMAT.md §6.
//
// Plugin authors call Test from their own tests:
//
//	func TestConformance(t *testing.T) {
//		conformance.Test(t, mymethod.Constructor(), "") // "" = the built-in cases
//	}
//
// Tools (`selfsup plugin check`) call LoadCases, then Run or RunAll, which
// print one line per case and the closing line "N passed, M failed".
package conformance
