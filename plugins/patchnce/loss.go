package patchnce

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// sameIndexLogit is what PatchNCELoss writes over each query's similarity
// to its own key among the negatives (before dividing by nce_T): the entry
// stays in the softmax's denominator as exp(−10/T).
const sameIndexLogit = -10.0

// LossVector is PatchNCELoss.forward (models/patchnce.py): for query and
// key patch features q, k [B·P, D] (image-major rows, unit norm), each row's
// logits are its positive q_r·k_r and its similarities to the keys of its
// group (the P patches of its image, or all B·P rows when allNegatives),
// its own entry set to −10, all divided by t; the result is the per-row
// cross-entropy against the positive, [B·P]. k is detached. images is B.
// The caller owns the result.
func LossVector(q, k *ts.Tensor, images int64, t float64, allNegatives bool) (*ts.Tensor, error) {
	size := q.MustSize()
	if len(size) != 2 || !slices.Equal(size, k.MustSize()) {
		return nil, fmt.Errorf("patchnce: query %v and key %v features: want two [B·P, D] tensors of one shape", size, k.MustSize())
	}
	rows, dim := size[0], size[1]
	groups := images
	if allNegatives {
		groups = 1
	}
	if groups <= 0 || rows%groups != 0 {
		return nil, fmt.Errorf("patchnce: %d patch rows do not split into %d images", rows, images)
	}
	if t <= 0 {
		return nil, fmt.Errorf("patchnce: nce_T %v: want > 0", t)
	}
	s := tensor.NewScope()
	defer s.Close()
	kd := s.T(k.MustDetach(false))
	pos := s.T(s.T(q.MustMul(kd, false)).MustSumDimIntlist([]int64{1}, true, q.DType(), false)) // [R, 1]
	per := rows / groups
	qg := s.T(q.MustView([]int64{groups, per, dim}, false))
	kg := s.T(kd.MustView([]int64{groups, per, dim}, false))
	neg := s.T(qg.MustBmm(s.T(kg.MustTranspose(1, 2, false)), false)) // [G, P', P']
	diag := s.T(s.T(ts.MustEye(per, gotch.Bool, q.MustDevice())).MustUnsqueeze(0, false))
	neg = s.T(neg.MustMaskedFill(diag, ts.FloatScalar(sameIndexLogit), false))
	neg = s.T(neg.MustView([]int64{rows, per}, false))
	logits := s.T(s.T(ts.MustCat([]*ts.Tensor{pos, neg}, 1)).MustDivScalar(ts.FloatScalar(t), false))
	// CE against column 0: logsumexp − the positive's logit
	lse := s.T(logits.MustLogsumexp([]int64{1}, false, false))
	first := s.T(s.T(logits.MustNarrow(1, 0, 1, false)).MustSqueezeDim(1, false))
	return lse.MustSub(first, false), nil
}

// Loss is LossVector's mean, the scalar CUTModel.calculate_NCE_loss takes
// per layer. The caller owns the result.
func Loss(q, k *ts.Tensor, images int64, t float64, allNegatives bool) (*ts.Tensor, error) {
	v, err := LossVector(q, k, images, t, allNegatives)
	if err != nil {
		return nil, err
	}
	defer v.MustDrop()
	return v.MustMean(v.DType(), false), nil
}

// l2norm is CUT's Normalize(2): x / (‖x‖₂ + 1e-7) row-wise (not
// F.normalize's clamp). The caller owns the result.
func l2norm(x *ts.Tensor) *ts.Tensor {
	s := tensor.NewScope()
	defer s.Close()
	n := s.T(s.T(s.T(x.MustSquare(false)).MustSumDimIntlist([]int64{1}, true, x.DType(), false)).MustSqrt(false))
	return x.MustDiv(s.T(n.MustAddScalar(ts.FloatScalar(1e-7), false)), false)
}
