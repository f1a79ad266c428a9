package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// flatEncoder is a test encoder whose pooled feature is the flattened
// input times a weight that requires gradients (the identity unless
// told), so Extract must equal Pixels. It records how it was called.
type flatEncoder struct {
	vs      *nn.VarStore
	w       *ts.Tensor
	dim     int64
	badDim  bool
	trains  []bool // the train flag of each Forward
	grads   []bool // whether each output required grad
	batches []int64
}

func newFlatEncoder(t *testing.T, d int64) *flatEncoder {
	t.Helper()
	eye := make([]float32, d*d)
	for i := range d {
		eye[i*d+i] = 1
	}
	w, err := tensor.FromFloat32(eye, d, d)
	if err != nil {
		t.Fatal(err)
	}
	w = w.MustSetRequiresGrad(true, true)
	e := &flatEncoder{vs: nn.NewVarStore(gotch.CPU), w: w, dim: d}
	t.Cleanup(func() { e.w.MustDrop() })
	return e
}

func (e *flatEncoder) Name() string { return "flat" }
func (e *flatEncoder) Dim() int64   { return e.dim }
func (e *flatEncoder) Layers() []encoder.Layer {
	return nil
}
func (e *flatEncoder) VarStore() *nn.VarStore         { return e.vs }
func (e *flatEncoder) Copy() (encoder.Encoder, error) { return nil, fmt.Errorf("not needed") }
func (e *flatEncoder) Forward(x *ts.Tensor, train bool, layers ...string) (method.Tensors, error) {
	n := x.MustSize()[0]
	e.trains = append(e.trains, train)
	e.batches = append(e.batches, n)
	flat := x.MustFlatten(1, -1, false)
	defer flat.MustDrop()
	out := flat.MustMm(e.w, false)
	e.grads = append(e.grads, out.MustRequiresGrad())
	if e.badDim {
		defer out.MustDrop()
		return method.Tensors{encoder.Pooled: out.MustNarrow(1, 0, 1, false)}, nil
	}
	return method.Tensors{encoder.Pooled: out}, nil
}

// tinySet is n images of c×2×2 with pixel bytes 0, 17, 34, ... (mod 256)
// and labels i mod 3.
func tinySet(n, c int) *data.Dataset {
	d := &data.Dataset{Name: "tiny", N: n, C: c, H: 2, W: 2, Classes: []string{"a", "b", "c"}}
	for i := range n * c * 4 {
		d.Pixels = append(d.Pixels, uint8(17*i))
	}
	for i := range n {
		d.Labels = append(d.Labels, i%3)
	}
	return d
}

// wantPixels computes the normalised pixels of d in float64.
func wantPixels(d *data.Dataset, mean, std []float64) []float64 {
	out := make([]float64, len(d.Pixels))
	per := d.H * d.W
	for i, b := range d.Pixels {
		c := (i / per) % d.C
		out[i] = (float64(b)/255 - mean[c]) / std[c]
	}
	return out
}

func TestPixels(t *testing.T) {
	cases := []struct {
		name       string
		set        *data.Dataset
		norm       Norm
		mean, std  []float64
		batch      int
		wantCalls  []int
		wantShapes []int64
	}{
		{"fashion-mnist norm", tinySet(5, 1), FashionMNISTNorm(), []float64{0.286}, []float64{0.353}, 2, []int{2, 4, 5}, []int64{5, 4}},
		{"zero norm keeps [0,1]", tinySet(3, 1), Norm{}, []float64{0}, []float64{1}, 0, []int{3}, []int64{3, 4}},
		{"per channel", tinySet(4, 3), Norm{Mean: []float64{0.1, 0.5, 0.9}, Std: []float64{1, 0.5, 0.25}},
			[]float64{0.1, 0.5, 0.9}, []float64{1, 0.5, 0.25}, 3, []int{3, 4}, []int64{4, 12}},
		{"one value for three channels", tinySet(2, 3), Norm{Mean: []float64{0.5}, Std: []float64{0.5}},
			[]float64{0.5, 0.5, 0.5}, []float64{0.5, 0.5, 0.5}, 1, []int{1, 2}, []int64{2, 12}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []int
			x, err := Pixels(context.Background(), c.set, ExtractOptions{Norm: c.norm, BatchSize: c.batch,
				Progress: func(done, total int) { calls = append(calls, done) }})
			if err != nil {
				t.Fatal(err)
			}
			defer x.MustDrop()
			if got := x.MustSize(); !slices.Equal(got, c.wantShapes) {
				t.Fatalf("shape %v, want %v", got, c.wantShapes)
			}
			if !slices.Equal(calls, c.wantCalls) {
				t.Errorf("progress %v, want %v", calls, c.wantCalls)
			}
			got, _ := tensor.Float32s(x)
			want := wantPixels(c.set, c.mean, c.std)
			for i := range want {
				if math.Abs(float64(got[i])-want[i]) > 1e-5 {
					t.Fatalf("value %d = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestExtractEqualsPixelsThroughIdentity(t *testing.T) {
	ds := tinySet(5, 1)
	enc := newFlatEncoder(t, 4)
	opts := ExtractOptions{Norm: FashionMNISTNorm(), BatchSize: 2}
	var calls []int
	opts.Progress = func(done, total int) { calls = append(calls, done) }
	f, err := Extract(context.Background(), enc, ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.MustDrop()
	opts.Progress = nil
	p, err := Pixels(context.Background(), ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.MustDrop()
	a, _ := tensor.Float32s(f)
	b, _ := tensor.Float32s(p)
	if !slices.Equal(a, b) {
		t.Errorf("identity features %v differ from pixels %v", a, b)
	}
	if !slices.Equal(enc.batches, []int64{2, 2, 1}) || !slices.Equal(calls, []int{2, 4, 5}) {
		t.Errorf("batches %v, progress %v; want [2 2 1] and [2 4 5]", enc.batches, calls)
	}
	if slices.Contains(enc.trains, true) {
		t.Errorf("Forward called with train=true: %v; features come from eval mode", enc.trains)
	}
	if slices.Contains(enc.grads, true) {
		t.Errorf("features required grad: %v; extraction must run without autograd", enc.grads)
	}
	if f.MustRequiresGrad() {
		t.Error("returned features require grad")
	}
}

func TestExtractTransform(t *testing.T) {
	ds := tinySet(5, 1)
	enc := newFlatEncoder(t, 4)
	var starts []int
	// Invert the images (1 − x) before normalisation.
	opts := ExtractOptions{BatchSize: 3, Transform: func(x *ts.Tensor, start int) (*ts.Tensor, error) {
		starts = append(starts, start)
		return x.MustNeg(false).MustAddScalar(ts.FloatScalar(1), true), nil
	}}
	f, err := Extract(context.Background(), enc, ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.MustDrop()
	got, _ := tensor.Float32s(f)
	for i, b := range ds.Pixels {
		if want := 1 - float64(b)/255; math.Abs(float64(got[i])-want) > 1e-6 {
			t.Fatalf("value %d = %v, want %v", i, got[i], want)
		}
	}
	if !slices.Equal(starts, []int{0, 3}) {
		t.Errorf("transform starts %v, want [0 3]", starts)
	}
	opts.Transform = func(x *ts.Tensor, start int) (*ts.Tensor, error) { return nil, errors.New("boom") }
	if _, err := Extract(context.Background(), enc, ds, opts); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing transform: error %v, want it passed on", err)
	}
}

func TestExtractErrors(t *testing.T) {
	enc := newFlatEncoder(t, 4)
	bad := newFlatEncoder(t, 4)
	bad.badDim = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name       string
		ctx        context.Context
		enc        encoder.Encoder
		ds         *data.Dataset
		norm       Norm
		wantSubstr string
	}{
		{"no encoder", context.Background(), nil, tinySet(2, 1), Norm{}, "no encoder"},
		{"no data", context.Background(), enc, nil, Norm{}, "no data set"},
		{"empty data", context.Background(), enc, &data.Dataset{Name: "empty", C: 1, H: 2, W: 2}, Norm{}, "empty"},
		{"two means for one channel", context.Background(), enc, tinySet(2, 1), Norm{Mean: []float64{0, 0}, Std: []float64{1}}, "2 mean values for 1 channels"},
		{"zero std", context.Background(), enc, tinySet(2, 1), Norm{Mean: []float64{0}, Std: []float64{0}}, "positive std"},
		{"wrong dim", context.Background(), bad, tinySet(2, 1), Norm{}, "Dim() and Forward disagree"},
		{"cancelled", ctx, enc, tinySet(2, 1), Norm{}, "context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Extract(c.ctx, c.enc, c.ds, ExtractOptions{Norm: c.norm})
			if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
				t.Errorf("error %v, want one containing %q", err, c.wantSubstr)
			}
		})
	}
}
