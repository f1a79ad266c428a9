package eval

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/progress"
)

// Features is one representation to evaluate: frozen features of the
// training split (the kNN bank and the probe's training set) and of the
// test split (the queries and the probe's test set), and, optionally,
// features of two augmented views of the same images for the alignment.
// The tensors belong to the caller; Drop frees them.
type Features struct {
	// Name labels the row of the report ("simclr epoch 5", "raw pixels").
	Name string
	// Baseline marks a reference point (raw pixels, a random-init
	// encoder) rather than a trained encoder.
	Baseline bool
	// Train and Test are [N_train, D] and [N_test, D].
	Train, Test *ts.Tensor
	// ViewA and ViewB, when both set, are [M, D] features of two views of
	// the same M images, row by row (e.g. two augmentations of the test
	// images): alignment and uniformity are measured on them. Otherwise
	// uniformity alone is measured on Test.
	ViewA, ViewB *ts.Tensor
	// ExtractSeconds is how long extracting the features took (reported).
	ExtractSeconds float64
}

// Drop frees the feature tensors that are set.
func (f Features) Drop() {
	for _, t := range []*ts.Tensor{f.Train, f.Test, f.ViewA, f.ViewB} {
		if t != nil {
			t.MustDrop()
		}
	}
}

// EncoderFeatures extracts the features of the train and test splits with
// enc (see Extract). For the alignment, set ViewA and ViewB of the result
// with Extract and an augmenting opts.Transform.
func EncoderFeatures(ctx context.Context, name string, enc encoder.Encoder, train, test *data.Dataset, opts ExtractOptions) (Features, error) {
	start := time.Now()
	xtr, err := Extract(ctx, enc, train, opts)
	if err != nil {
		return Features{}, err
	}
	xte, err := Extract(ctx, enc, test, opts)
	if err != nil {
		xtr.MustDrop()
		return Features{}, err
	}
	return Features{Name: name, Train: xtr, Test: xte, ExtractSeconds: time.Since(start).Seconds()}, nil
}

// PixelFeatures returns the raw-pixel baseline: the flattened, normalised
// pixels of the train and test splits (see Pixels), named "raw pixels".
func PixelFeatures(ctx context.Context, train, test *data.Dataset, opts ExtractOptions) (Features, error) {
	start := time.Now()
	xtr, err := Pixels(ctx, train, opts)
	if err != nil {
		return Features{}, err
	}
	xte, err := Pixels(ctx, test, opts)
	if err != nil {
		xtr.MustDrop()
		return Features{}, err
	}
	return Features{Name: "raw pixels", Baseline: true, Train: xtr, Test: xte, ExtractSeconds: time.Since(start).Seconds()}, nil
}

// Options tune Evaluate. The zero value runs the standard protocol.
type Options struct {
	KNN KNNOptions
	// Probe sets both linear probes; its Normalize and Standardize are
	// ignored (Evaluate runs the probe on raw and on L2-normalised
	// features).
	Probe        ProbeOptions
	AlignUniform AlignUniformOptions
	// Progress, when set, receives a progress bar per stage.
	Progress io.Writer
}

// Evaluate runs the kNN classifier, the linear probe on raw and on
// L2-normalised features, and the alignment/uniformity on f, and returns
// one row of a Report.
func Evaluate(ctx context.Context, f Features, trainLabels, testLabels []int, opts Options) (Result, error) {
	if f.Train == nil || f.Test == nil {
		return Result{}, fmt.Errorf("eval: %q has no train or test features; extract both splits", f.Name)
	}
	_, d, err := checkFeatures("train", f.Train)
	if err != nil {
		return Result{}, fmt.Errorf("%w (%s)", err, f.Name)
	}
	res := Result{Name: f.Name, Baseline: f.Baseline, Dim: int(d)}
	res.Seconds.Extract = f.ExtractSeconds

	start := time.Now()
	ko := opts.KNN
	if opts.Progress != nil && ko.Progress == nil {
		ko.Progress = ProgressBar(opts.Progress, f.Name+": kNN", "query")
	}
	knn, err := KNN(ctx, f.Train, trainLabels, f.Test, testLabels, ko)
	if err != nil {
		return Result{}, fmt.Errorf("%w (%s)", err, f.Name)
	}
	res.KNN = knn.Accuracy
	res.Seconds.KNN = time.Since(start).Seconds()

	start = time.Now()
	for _, v := range []struct {
		name      string
		normalize bool
		acc       *float64
		curve     *[]float64
	}{
		{"linear_raw", false, &res.LinearRaw, &res.LinearRawCurve},
		{"linear_l2", true, &res.LinearL2, &res.LinearL2Curve},
	} {
		po := opts.Probe
		po.Normalize, po.Standardize = v.normalize, false
		if opts.Progress != nil && po.Progress == nil {
			bar := ProgressBar(opts.Progress, f.Name+": "+v.name, "epoch")
			po.Progress = func(epoch, epochs int, _ float64) { bar(epoch, epochs) }
		}
		p, err := LinearProbe(ctx, f.Train, trainLabels, f.Test, testLabels, po)
		if err != nil {
			return Result{}, fmt.Errorf("%w (%s, %s)", err, f.Name, v.name)
		}
		*v.acc, *v.curve = p.Accuracy, p.TestAccuracy
	}
	res.Seconds.Probe = time.Since(start).Seconds()

	start = time.Now()
	x, y, on := f.Test, (*ts.Tensor)(nil), "test"
	if f.ViewA != nil && f.ViewB != nil {
		x, y, on = f.ViewA, f.ViewB, "views"
	}
	au, err := AlignUniform(ctx, x, y, opts.AlignUniform)
	if err != nil {
		return Result{}, fmt.Errorf("%w (%s)", err, f.Name)
	}
	res.Uniform, res.UniformOn = &au.Uniform, on
	if au.HasAlign {
		res.Align = &au.Align
	}
	res.Seconds.AlignUniform = time.Since(start).Seconds()
	return res, nil
}

// ProgressBar returns a progress callback (for ExtractOptions.Progress,
// KNNOptions.Progress, ...) that draws a bar on w labelled label, counting
// unit; the bar starts at the first call and ends when done reaches
// total. A nil w gives nil (no progress).
func ProgressBar(w io.Writer, label, unit string) func(done, total int) {
	if w == nil {
		return nil
	}
	var bar *progress.Bar
	return func(done, total int) {
		if bar == nil {
			bar = progress.New(w, total, progress.Options{Label: label, Unit: unit})
		}
		bar.Set(done)
		if done >= total {
			bar.Finish()
		}
	}
}
