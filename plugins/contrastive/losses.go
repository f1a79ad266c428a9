package contrastive

import (
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// The losses below are pure functions of tensors: they compute in their
// inputs' dtype (float64 for the conformance cases, float32 in training),
// never free or modify their inputs, and return a scalar the caller owns.
// Each follows its section of sdk/conformance/testdata/METHODS.md.

// AlignUniform is Wang & Isola's objective on embeddings x, y [B, D] that
// already have unit rows:
//
//	alignW · mean_i ‖x_i − y_i‖₂^alpha + lam · (U(x) + U(y)) / 2
//	U(z) = log mean_{i<j} exp(−t ‖z_i − z_j‖₂²)
//
// U runs over the B(B−1)/2 unordered pairs, as torch.pdist does.
func AlignUniform(x, y *ts.Tensor, alpha, t, lam, alignW float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := x.DType()
	dist := s.T(s.T(x.MustSub(y, false)).MustNormScalaroptDim(ts.FloatScalar(2), []int64{1}, false, false))
	align := s.T(s.T(s.T(dist.MustPowTensorScalar(ts.FloatScalar(alpha), false)).MustMean(dt, false)).MustMulScalar(ts.FloatScalar(alignW), false))
	ux, uy := uniformity(s, x, t), uniformity(s, y, t)
	unif := s.T(s.T(ux.MustAdd(uy, false)).MustMulScalar(ts.FloatScalar(lam/2), false))
	return align.MustAdd(unif, false)
}

// uniformity is U(z) above, as a log-mean-exp over the pairs i < j.
func uniformity(s *tensor.Scope, z *ts.Tensor, t float64) *ts.Tensor {
	b := z.MustSize()[0]
	var is, js []int64
	for i := range b {
		for j := i + 1; j < b; j++ {
			is, js = append(is, i), append(js, j)
		}
	}
	dev := z.MustDevice()
	zi := s.T(z.MustIndexSelect(0, s.T(indexOn(is, dev, int64(len(is)))), false))
	zj := s.T(z.MustIndexSelect(0, s.T(indexOn(js, dev, int64(len(js)))), false))
	sq := s.T(s.T(s.T(zi.MustSub(zj, false)).MustSquare(false)).MustSumDimIntlist([]int64{1}, false, z.DType(), false))
	lse := s.T(s.T(sq.MustMulScalar(ts.FloatScalar(-t), false)).MustLogsumexp([]int64{0}, false, false))
	return s.T(lse.MustSubScalar(ts.FloatScalar(math.Log(float64(len(is)))), false))
}

// pairScores are the quantities DCL and HCL share for out1, out2 [B, D]
// with unit rows: e = exp(o oᵀ / T) over the 2B rows o = [out1; out2]
// restricted to each anchor's 2B−2 negatives ([2B, 2B−2]), and pos_i =
// exp(out1_{i mod B} · out2_{i mod B} / T) ([2B]).
func pairScores(s *tensor.Scope, out1, out2 *ts.Tensor, temperature float64) (neg, pos *ts.Tensor) {
	b, dt := out1.MustSize()[0], out1.DType()
	o := s.T(ts.MustCat([]*ts.Tensor{out1, out2}, 0))
	e := s.T(s.T(s.T(o.MustMm(s.T(o.MustT(false)), false)).MustDivScalar(ts.FloatScalar(temperature), false)).MustExp(false))
	neg = s.T(e.MustGather(1, s.T(negativeIndex(b, o.MustDevice())), false, false))
	p := s.T(s.T(s.T(out1.MustMul(out2, false)).MustSumDimIntlist([]int64{1}, false, dt, false)).MustDivScalar(ts.FloatScalar(temperature), false))
	p = s.T(p.MustExp(false))
	return neg, s.T(ts.MustCat([]*ts.Tensor{p, p}, 0))
}

// debiasedTail clamps the negative estimate Ng ([2B]) at its floor
// Nn·e^{−1/T} and returns mean over the 2B anchors of −log(pos/(pos+Ng)).
func debiasedTail(s *tensor.Scope, ng, pos *ts.Tensor, nNeg int64, temperature float64) *ts.Tensor {
	ng = s.T(ng.MustClampMin(ts.FloatScalar(float64(nNeg)*math.Exp(-1/temperature)), false))
	return contrastTail(s, ng, pos)
}

// contrastTail is mean_i −log(pos_i / (pos_i + Ng_i)).
func contrastTail(s *tensor.Scope, ng, pos *ts.Tensor) *ts.Tensor {
	ratio := s.T(pos.MustDiv(s.T(pos.MustAdd(ng, false)), false))
	return s.T(s.T(s.T(ratio.MustLog(false)).MustNeg(false)).MustMean(pos.DType(), false))
}

// Debiased is DCL's loss (Chuang et al. 2020) on out1, out2 [B, D] with unit
// rows: each of the 2B anchors contrasts its positive with the debiased
// negative estimate Ng = max((Σ_neg e − τ⁺·Nn·pos)/(1 − τ⁺), Nn·e^{−1/T}),
// Nn = 2B − 2; where the clamp binds Ng is a constant.
func Debiased(out1, out2 *ts.Tensor, temperature, tauPlus float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	neg, pos := pairScores(s, out1, out2, temperature)
	nNeg := 2*out1.MustSize()[0] - 2
	ng := debiasedEstimate(s, s.T(neg.MustSumDimIntlist([]int64{1}, false, neg.DType(), false)), pos, nNeg, tauPlus)
	return s.Detach(debiasedTail(s, ng, pos, nNeg, temperature))
}

// debiasedEstimate is (sum − τ⁺·Nn·pos) / (1 − τ⁺).
func debiasedEstimate(s *tensor.Scope, sum, pos *ts.Tensor, nNeg int64, tauPlus float64) *ts.Tensor {
	biased := s.T(pos.MustMulScalar(ts.FloatScalar(tauPlus*float64(nNeg)), false))
	return s.T(s.T(sum.MustSub(biased, false)).MustDivScalar(ts.FloatScalar(1-tauPlus), false))
}

// Estimators of HardNeg.
const (
	Hard = "hard" // importance-weighted, debiased negatives (HCL)
	Easy = "easy" // the plain sum of negatives (SimCLR-like, no clamp)
)

// HardNeg is HCL's loss (Robinson et al. 2021) on out1, out2 [B, D] with unit
// rows. With estimator Hard the negatives are reweighted by w = e^β (not
// detached) into R = Σ w·e / mean(w), then debiased and clamped as in
// Debiased; with Easy, Ng is the plain sum of the negatives.
func HardNeg(out1, out2 *ts.Tensor, temperature, tauPlus, beta float64, estimator string) (*ts.Tensor, error) {
	s := tensor.NewScope()
	defer s.Close()
	neg, pos := pairScores(s, out1, out2, temperature)
	dt := neg.DType()
	switch estimator {
	case Hard:
		nNeg := 2*out1.MustSize()[0] - 2
		imp := s.T(s.T(s.T(neg.MustLog(false)).MustMulScalar(ts.FloatScalar(beta), false)).MustExp(false))
		weighted := s.T(s.T(imp.MustMul(neg, false)).MustSumDimIntlist([]int64{1}, false, dt, false))
		r := s.T(weighted.MustDiv(s.T(imp.MustMeanDim([]int64{1}, false, dt, false)), false))
		ng := debiasedEstimate(s, r, pos, nNeg, tauPlus)
		return s.Detach(debiasedTail(s, ng, pos, nNeg, temperature)), nil
	case Easy:
		ng := s.T(neg.MustSumDimIntlist([]int64{1}, false, dt, false))
		return s.Detach(contrastTail(s, ng, pos)), nil
	}
	return nil, fmt.Errorf("estimator %q: want %q or %q", estimator, Hard, Easy)
}

// FlatNCE is the FlatCLR loss (Chen et al. 2021) on raw projections z1, z2
// [B, D], normalised inside. With ℓ_ij = (S_ij − S_i,p(i))/T over each
// anchor's 2B−2 negatives and v_i = logsumexp_j ℓ_ij, it returns
//
//	mean_i exp(v_i − sg(v_i)) − 1 + sg(mean_i log(1 + Σ_j exp ℓ_ij))
//
// whose value is the InfoNCE value and whose gradient is FlatNCE's, ∇ mean v
// (the official code's convention; see METHODS.md).
func FlatNCE(z1, z2 *ts.Tensor, temperature float64) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	b, dt, dev := z1.MustSize()[0], z1.DType(), z1.MustDevice()
	u := s.T(nn.Normalize(s.T(ts.MustCat([]*ts.Tensor{z1, z2}, 0))))
	sim := s.T(u.MustMm(s.T(u.MustT(false)), false))
	pos := s.T(sim.MustGather(1, s.T(partnerIndex(b, dev)), false, false)) // [2B, 1]
	neg := s.T(sim.MustGather(1, s.T(negativeIndex(b, dev)), false, false))
	logits := s.T(s.T(neg.MustSub(pos, false)).MustDivScalar(ts.FloatScalar(temperature), false))
	v := s.T(logits.MustLogsumexp([]int64{1}, false, false))
	flat := s.T(s.T(s.T(v.MustSub(s.T(v.MustDetach(false)), false)).MustExp(false)).MustMean(dt, false))
	// the reported value: CE with the positive at logit 0, held constant
	zero := s.T(ts.MustZeros([]int64{2 * b, 1}, dt, dev))
	ce := s.T(s.T(ts.MustCat([]*ts.Tensor{zero, s.T(logits.MustDetach(false))}, 1)).MustLogsumexp([]int64{1}, false, false))
	ce = s.T(ce.MustMean(dt, false))
	return s.T(flat.MustSubScalar(ts.FloatScalar(1), false)).MustAdd(ce, false)
}

// InfoNCE is CPC's loss (van den Oord et al. 2018): each anchor a_i [N, D]
// scores its positive p_i [N, D] and K negatives by dot products / T and
// pays the cross-entropy of picking the positive:
//
//	mean_i −log( exp(a_i·p_i/T) / (exp(a_i·p_i/T) + Σ_k exp(a_i·n_ik/T)) )
//
// negatives are per anchor [N, K, D], or [K, D] shared by every anchor. It
// does not normalise: CPC's scores are raw (log-bilinear) dot products.
func InfoNCE(anchor, positive, negatives *ts.Tensor, temperature float64) (*ts.Tensor, error) {
	sa, sp, sn := anchor.MustSize(), positive.MustSize(), negatives.MustSize()
	if len(sa) != 2 || !slices.Equal(sa, sp) {
		return nil, fmt.Errorf("anchor %v and positive %v: want two [N, D] of one shape", sa, sp)
	}
	s := tensor.NewScope()
	defer s.Close()
	dt := anchor.DType()
	var neg *ts.Tensor
	switch {
	case len(sn) == 3 && sn[0] == sa[0] && sn[2] == sa[1]:
		neg = s.T(s.T(negatives.MustBmm(s.T(anchor.MustUnsqueeze(2, false)), false)).MustSqueezeDim(2, false))
	case len(sn) == 2 && sn[1] == sa[1]:
		neg = s.T(anchor.MustMm(s.T(negatives.MustT(false)), false))
	default:
		return nil, fmt.Errorf("negatives %v: want [N, K, D] or [K, D] for anchors %v", sn, sa)
	}
	pos := s.T(s.T(anchor.MustMul(positive, false)).MustSumDimIntlist([]int64{1}, true, dt, false))
	logits := s.T(s.T(ts.MustCat([]*ts.Tensor{pos, neg}, 1)).MustDivScalar(ts.FloatScalar(temperature), false))
	lse := s.T(logits.MustLogsumexp([]int64{1}, false, false))
	picked := s.T(s.T(logits.MustNarrow(1, 0, 1, false)).MustSqueezeDim(1, false))
	return s.T(lse.MustSub(picked, false)).MustMean(dt, false), nil
}

// NCE is binary noise-contrastive estimation (Gutmann & Hyvärinen 2010) as
// logistic regression of data against noise: with f = sigmoid of a score,
//
//	−mean(log f(data)) − mean(log(1 − f(noise)))
//
// over data scores and noise scores of any shapes (computed stably as
// −logsigmoid(s) and −logsigmoid(−s)).
func NCE(data, noise *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	dt := data.DType()
	d := s.T(s.T(data.MustLogSigmoid(false)).MustMean(dt, false))
	n := s.T(s.T(s.T(noise.MustNeg(false)).MustLogSigmoid(false)).MustMean(dt, false))
	return s.T(d.MustAdd(n, false)).MustNeg(false)
}

// negativeIndex is, for the 2B rows of [v1; v2], each row's 2B−2 negative
// columns j ∉ {i, p(i)}, p(i) = (i + B) mod 2B, as int64 [2B, 2B−2].
func negativeIndex(b int64, dev gotch.Device) *ts.Tensor {
	n := 2 * b
	idx := make([]int64, 0, n*(n-2))
	for i := range n {
		p := (i + b) % n
		for j := range n {
			if j != i && j != p {
				idx = append(idx, j)
			}
		}
	}
	return indexOn(idx, dev, n, n-2)
}

// partnerIndex is each of the 2B rows' positive column p(i), as [2B, 1].
func partnerIndex(b int64, dev gotch.Device) *ts.Tensor {
	idx := make([]int64, 2*b)
	for i := range 2 * b {
		idx[i] = (i + b) % (2 * b)
	}
	return indexOn(idx, dev, 2*b, 1)
}

// offDiagonalIndex is, for each of n rows, the n−1 columns j ≠ i, as
// [n, n−1].
func offDiagonalIndex(n int64, dev gotch.Device) *ts.Tensor {
	idx := make([]int64, 0, n*(n-1))
	for i := range n {
		for j := range n {
			if j != i {
				idx = append(idx, j)
			}
		}
	}
	return indexOn(idx, dev, n, n-1)
}

// indexOn makes an int64 tensor of shape on dev. The lengths always fill
// the shape, so an error is a bug.
func indexOn(idx []int64, dev gotch.Device, shape ...int64) *ts.Tensor {
	t, err := tensor.FromInt64(idx, shape...)
	if err != nil {
		panic(fmt.Sprintf("contrastive: index of %d for shape %v: %v", len(idx), shape, err))
	}
	if dev == gotch.CPU {
		return t
	}
	return t.MustTo(dev, true)
}
