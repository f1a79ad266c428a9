// Command selfsup-vicreg is a method plugin written the way a third party
// would write one: VICReg (Bardes, Ponce & LeCun, ICLR 2022), using only
// selfsup's public SDK packages. Build it, then check it against its own
// conformance case: selfsup plugin check --cases examples/thirdparty-plugin/cases bin/selfsup-vicreg
package main

import (
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func main() {
	plugin.Serve(method.Constructor{Name: "vicreg", Summary: "VICReg: variance-invariance-covariance regularisation", New: New})
}

// New returns the method: two SimCLR-style views through the trunk, VICReg's
// loss on their pooled features.
func New() method.Method {
	spec := method.Spec{
		Name:     "vicreg",
		Views:    []method.View{{Name: "v1", Recipe: "simclr", Online: true}, {Name: "v2", Recipe: "simclr", Online: true}},
		Defaults: method.Params{"sim_coeff": 25.0, "std_coeff": 25.0, "cov_coeff": 1.0},
	}
	return methodkit.NewStateless(spec, map[string]string{"z1": "v1/pooled", "z2": "v2/pooled"}, loss)
}

// loss is main_vicreg.py's VICReg.forward: invariance (MSE), variance (hinge
// on each dimension's std) and covariance (off-diagonal squares) terms.
func loss(z method.Tensors, p method.Params) (*ts.Tensor, error) {
	sim, _ := p.Float("sim_coeff")
	std, _ := p.Float("std_coeff")
	cov, _ := p.Float("cov_coeff")
	s := tensor.NewScope() // frees every intermediate tensor on return
	defer s.Close()
	x, y := z["z1"], z["z2"]
	n, d, dt := float64(x.MustSize()[0]), float64(x.MustSize()[1]), x.DType()
	f := ts.FloatScalar
	terms := func(v *ts.Tensor) (hinge, offDiag *ts.Tensor) {
		c := s.T(v.MustSub(s.T(v.MustMeanDim([]int64{0}, true, dt, false)), false))
		variance := s.T(s.T(s.T(c.MustSquare(false)).MustSumDimIntlist([]int64{0}, false, dt, false)).MustDivScalar(f(n-1), false))
		sd := s.T(s.T(variance.MustAddScalar(f(1e-4), false)).MustSqrt(false))
		hinge = s.T(s.T(s.T(sd.MustRsubScalar(f(1), false)).MustRelu(false)).MustMean(dt, false))
		cv := s.T(s.T(s.T(c.MustT(false)).MustMm(c, false)).MustDivScalar(f(n-1), false))
		all := s.T(s.T(cv.MustSquare(false)).MustSum(dt, false))
		diag := s.T(s.T(s.T(cv.MustDiagonal(0, 0, 1, false)).MustSquare(false)).MustSum(dt, false))
		return hinge, s.T(s.T(all.MustSub(diag, false)).MustDivScalar(f(d), false))
	}
	hx, cx := terms(x)
	hy, cy := terms(y)
	l := s.T(s.T(x.MustMseLoss(y, 1, false)).MustMulScalar(f(sim), false))
	l = s.T(l.MustAdd(s.T(s.T(hx.MustAdd(hy, false)).MustMulScalar(f(std/2), false)), false))
	l = s.T(l.MustAdd(s.T(s.T(cx.MustAdd(cy, false)).MustMulScalar(f(cov), false)), false))
	return s.Detach(l), nil
}
