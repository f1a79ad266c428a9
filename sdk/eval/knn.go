package eval

import (
	"context"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// KNNOptions are the settings of the weighted kNN classifier. The zero
// value means the standard protocol: k=200, T=0.1, 500 queries per chunk,
// classes counted from the labels.
type KNNOptions struct {
	// K is the number of neighbours that vote; zero means 200. When the
	// bank holds fewer features, all of them vote.
	K int `json:"k"`
	// T is the temperature of the vote weights exp(sim/T); zero means 0.1.
	T float64 `json:"t"`
	// Classes is the number of classes; zero means 1 + the largest label.
	Classes int `json:"classes,omitempty"`
	// Chunk is the number of queries per similarity matrix (it holds
	// Chunk × N_train floats); zero means 500. It does not change the
	// result.
	Chunk int `json:"-"`
	// Progress, when set, is called after each chunk with the number of
	// queries done and the total.
	Progress func(done, total int) `json:"-"`
}

func (o KNNOptions) withDefaults() KNNOptions {
	if o.K <= 0 {
		o.K = 200
	}
	if o.T == 0 {
		o.T = 0.1
	}
	if o.Chunk <= 0 {
		o.Chunk = 500
	}
	return o
}

// KNNResult is the outcome of KNN.
type KNNResult struct {
	// Accuracy is the top-1 accuracy on the queries, in percent.
	Accuracy float64 `json:"accuracy"`
	// Correct and Total count the queries classified right, and all.
	Correct int `json:"correct"`
	Total   int `json:"total"`
	// K is the number of neighbours that voted (K, or the bank size when
	// that is smaller).
	K int `json:"k"`
}

// KNN classifies each test feature by the weighted vote of its nearest
// training features and returns the top-1 accuracy, as InstDisc and
// lightly's knn_predict (and the reference's knn_accuracy) do:
//
//  1. L2-normalise the training (bank) and test (query) features;
//  2. take the K training features of highest cosine similarity s to the
//     query;
//  3. give each class the sum of exp(s/T) over those of its label;
//  4. predict the class of the highest score (ties go to the lowest
//     class index).
//
// It works on the device the features are on, in chunks of queries: a
// matrix multiplication and a top-k per chunk, no Go loop over pairs.
// Features may be any floating type; they are compared in float32.
func KNN(ctx context.Context, train *ts.Tensor, trainLabels []int, test *ts.Tensor, testLabels []int, opts KNNOptions) (KNNResult, error) {
	opts = opts.withDefaults()
	nTrain, d, err := checkFeatures("train", train)
	if err != nil {
		return KNNResult{}, err
	}
	nTest, dTest, err := checkFeatures("test", test)
	if err != nil {
		return KNNResult{}, err
	}
	if d != dTest {
		return KNNResult{}, fmt.Errorf("eval: kNN: train features have %d dimensions and test features %d; extract both with the same encoder", d, dTest)
	}
	classes := numClasses(opts.Classes, trainLabels, testLabels)
	if err := checkLabels("train", trainLabels, nTrain, classes); err != nil {
		return KNNResult{}, err
	}
	if err := checkLabels("test", testLabels, nTest, classes); err != nil {
		return KNNResult{}, err
	}
	if !(opts.T > 0) {
		return KNNResult{}, fmt.Errorf("eval: kNN temperature %v; want T > 0 (the standard is 0.1)", opts.T)
	}
	device, err := sameDevice(train, test)
	if err != nil {
		return KNNResult{}, err
	}
	k := min(int64(opts.K), nTrain)

	s := tensor.NewScope()
	defer s.Close()
	bankT := s.T(normalizedT(train))                              // [D, N]
	queries := s.T(owned(l2Normalize, asType(test, gotch.Float))) // [N_test, D]
	ytrain, err := labelTensor(trainLabels, device)
	if err != nil {
		return KNNResult{}, err
	}
	s.T(ytrain)
	ytest, err := labelTensor(testLabels, device)
	if err != nil {
		return KNNResult{}, err
	}
	s.T(ytest)

	correct := int64(0)
	chunk := int64(opts.Chunk)
	for lo := int64(0); lo < nTest; lo += chunk {
		if err := ctx.Err(); err != nil {
			return KNNResult{}, fmt.Errorf("eval: kNN stopped after %d of %d queries: %w", lo, nTest, err)
		}
		n := min(chunk, nTest-lo)
		correct += knnChunk(bankT, ytrain, queries, ytest, lo, n, k, opts.T, int64(classes))
		if opts.Progress != nil {
			opts.Progress(int(lo+n), int(nTest))
		}
	}
	return KNNResult{
		Accuracy: 100 * float64(correct) / float64(nTest),
		Correct:  int(correct),
		Total:    int(nTest),
		K:        int(k),
	}, nil
}

// normalizedT returns the L2-normalised rows of x, transposed to a
// contiguous float32 [D, N], keeping at most one copy besides the result.
func normalizedT(x *ts.Tensor) *ts.Tensor {
	bank := owned(l2Normalize, asType(x, gotch.Float))
	defer bank.MustDrop()
	return bank.MustT(false).MustContiguous(true)
}

// owned returns f(x) and frees x.
func owned(f func(*ts.Tensor) *ts.Tensor, x *ts.Tensor) *ts.Tensor {
	defer x.MustDrop()
	return f(x)
}

// knnChunk classifies queries [lo, lo+n) and returns how many are right.
func knnChunk(bankT, ytrain, queries, ytest *ts.Tensor, lo, n, k int64, t float64, classes int64) int64 {
	s := tensor.NewScope()
	defer s.Close()
	q := s.T(queries.MustNarrow(0, lo, n, false))
	sim := s.T(q.MustMm(bankT, false)) // [n, N]
	w, idx := sim.MustTopk(k, 1, true, true, false)
	s.T(w)
	s.T(idx)
	lab := s.T(s.T(ytrain.MustIndexSelect(0, s.T(idx.MustView([]int64{-1}, false)), false)).MustView([]int64{n, k}, false))
	w.MustDivScalar_(ts.FloatScalar(t))
	w.MustExp_()
	score := s.T(ts.MustZeros([]int64{n, classes}, gotch.Float, w.MustDevice()))
	score.MustScatterAdd_(1, lab, w)
	pred := s.T(score.MustArgmax([]int64{1}, false, false))
	want := s.T(ytest.MustNarrow(0, lo, n, false))
	hits := s.T(s.T(pred.MustEqTensor(want, false)).MustSum(gotch.Int64, false))
	return hits.MustInt64Value([]int64{})
}
