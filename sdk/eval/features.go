package eval

import (
	"context"
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/data"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Norm is the per-channel input normalisation: an image in [0, 1] (bytes
// divided by 255) becomes (x - Mean[c]) / Std[c]. Mean and Std hold one
// value per channel, or one value for all channels. The zero value
// leaves the images in [0, 1].
type Norm struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// FashionMNISTNorm is the normalisation of the Fashion-MNIST trunks and of
// the reference: mean 0.2860, std 0.3530.
func FashionMNISTNorm() Norm { return Norm{Mean: []float64{0.2860}, Std: []float64{0.3530}} }

// perChannel returns Mean and Std with one value per channel of c, or nil
// slices for the zero Norm.
func (n Norm) perChannel(c int) (mean, std []float64, err error) {
	if len(n.Mean) == 0 && len(n.Std) == 0 {
		return nil, nil, nil
	}
	expand := func(what string, v []float64) ([]float64, error) {
		switch len(v) {
		case c:
			return v, nil
		case 1:
			out := make([]float64, c)
			for i := range out {
				out[i] = v[0]
			}
			return out, nil
		}
		return nil, fmt.Errorf("eval: normalisation has %d %s values for %d channels; give one per channel or one for all", len(v), what, c)
	}
	if mean, err = expand("mean", n.Mean); err != nil {
		return nil, nil, err
	}
	if std, err = expand("std", n.Std); err != nil {
		return nil, nil, err
	}
	for i, s := range std {
		if !(s > 0) {
			return nil, nil, fmt.Errorf("eval: normalisation std %v for channel %d; want a positive std", s, i)
		}
	}
	return mean, std, nil
}

// ExtractOptions tune Extract and Pixels. The zero value extracts in
// batches of 1000 without normalisation.
type ExtractOptions struct {
	// Norm is the input normalisation the encoder was trained with
	// (FashionMNISTNorm for Fashion-MNIST).
	Norm Norm
	// BatchSize is the number of images per forward pass; zero means 1000.
	BatchSize int
	// Transform, when set, changes each batch of images x [B, C, H, W]
	// (float32 in [0, 1], on the encoder's device) before normalisation,
	// e.g. to augment them for the alignment of two views. start is the
	// index of the batch's first image, so a seeded transform can be
	// deterministic. It returns a new tensor (which Extract frees) and must
	// not free x.
	Transform func(x *ts.Tensor, start int) (*ts.Tensor, error)
	// Progress, when set, is called after each batch with the number of
	// images done and the total.
	Progress func(done, total int)
}

func (o ExtractOptions) batchSize() int {
	if o.BatchSize <= 0 {
		return 1000
	}
	return o.BatchSize
}

// images returns images [lo, hi) of ds as a float32 tensor [B, C, H, W] on
// device, divided by 255, transformed and normalised as opts say. The
// arithmetic follows the reference: x/255, then (x - mean)/std.
func images(ds *data.Dataset, lo, hi int, mean, std []float64, device gotch.Device, opts ExtractOptions) (*ts.Tensor, error) {
	s := tensor.NewScope()
	defer s.Close()
	n := ds.ImageSize()
	u8, err := tensor.FromUint8(ds.Pixels[lo*n:hi*n], int64(hi-lo), int64(ds.C), int64(ds.H), int64(ds.W))
	if err != nil {
		return nil, fmt.Errorf("eval: images %d to %d of %s: %w", lo, hi, ds.Name, err)
	}
	s.T(u8)
	if device != gotch.CPU {
		u8 = s.T(u8.MustTo(device, false))
	}
	x := s.T(u8.MustTotype(gotch.Float, false))
	x.MustDivScalar_(ts.FloatScalar(255))
	if opts.Transform != nil {
		y, err := opts.Transform(x, lo)
		if err != nil {
			return nil, fmt.Errorf("eval: transform of images %d to %d of %s: %w", lo, hi, ds.Name, err)
		}
		if y != x {
			x = s.T(y)
		}
	}
	if mean != nil {
		shape := []int64{1, int64(ds.C), 1, 1}
		m, err := tensor.FromFloat32(toFloat32(mean), shape...)
		if err != nil {
			return nil, err
		}
		sd, err := tensor.FromFloat32(toFloat32(std), shape...)
		if err != nil {
			m.MustDrop()
			return nil, err
		}
		s.T(m)
		s.T(sd)
		if device != gotch.CPU {
			m = s.T(m.MustTo(device, false))
			sd = s.T(sd.MustTo(device, false))
		}
		x = s.T(x.MustSub(m, false))
		x.MustDiv_(sd)
	}
	return s.Detach(x), nil
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func checkDataset(ds *data.Dataset) error {
	if ds == nil {
		return fmt.Errorf("eval: no data set; pass a loaded *data.Dataset")
	}
	if err := ds.Validate(); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if ds.N == 0 {
		return fmt.Errorf("eval: data set %s is empty; pass one with images", ds.Name)
	}
	return nil
}

// Extract runs enc in eval mode (batch-norm running statistics, no
// gradients) over every image of ds, in order, and returns the pooled
// features as a CPU float32 tensor [N, D] that the caller frees. Images
// are divided by 255 and normalised with opts.Norm on the encoder's
// device.
func Extract(ctx context.Context, enc encoder.Encoder, ds *data.Dataset, opts ExtractOptions) (*ts.Tensor, error) {
	if enc == nil {
		return nil, fmt.Errorf("eval: no encoder; pass one (a trained or a freshly initialised one)")
	}
	if err := checkDataset(ds); err != nil {
		return nil, err
	}
	mean, std, err := opts.Norm.perChannel(ds.C)
	if err != nil {
		return nil, err
	}
	device := enc.VarStore().Device()
	dim := enc.Dim()

	// Grad mode is per OS thread in libtorch: stay on one while it is off
	// (gotch's GradSetEnabled misreports the previous mode, so backend's).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := backend.GradEnabled()
	backend.SetGradEnabled(false)
	defer backend.SetGradEnabled(prev)

	out := ts.MustZeros([]int64{int64(ds.N), dim}, gotch.Float, gotch.CPU)
	ok := false
	defer func() {
		if !ok {
			out.MustDrop()
		}
	}()
	bs := opts.batchSize()
	for lo := 0; lo < ds.N; lo += bs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("eval: extract features of %s with %s: stopped after %d of %d images: %w", ds.Name, enc.Name(), lo, ds.N, err)
		}
		hi := min(lo+bs, ds.N)
		if err := extractBatch(enc, ds, lo, hi, mean, std, device, opts, out); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(hi, ds.N)
		}
	}
	ok = true
	return out, nil
}

// extractBatch runs images [lo, hi) through enc and copies the pooled
// features into rows [lo, hi) of out.
func extractBatch(enc encoder.Encoder, ds *data.Dataset, lo, hi int, mean, std []float64, device gotch.Device, opts ExtractOptions, out *ts.Tensor) error {
	s := tensor.NewScope()
	defer s.Close()
	x, err := images(ds, lo, hi, mean, std, device, opts)
	if err != nil {
		return err
	}
	s.T(x)
	feats, err := enc.Forward(x, false)
	if err != nil {
		return fmt.Errorf("eval: %s forward on images %d to %d of %s: %w", enc.Name(), lo, hi, ds.Name, err)
	}
	defer feats.Drop()
	f, err := feats.Get(encoder.Pooled)
	if err != nil {
		return fmt.Errorf("eval: %s forward: %w", enc.Name(), err)
	}
	if got, want := f.MustSize(), []int64{int64(hi - lo), enc.Dim()}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		return fmt.Errorf("eval: %s returned pooled features of shape %v for %d images, want %v; the encoder's Dim() and Forward disagree", enc.Name(), got, hi-lo, want)
	}
	f = s.T(f.MustTo(gotch.CPU, false))
	if f.DType() != gotch.Float {
		f = s.T(f.MustTotype(gotch.Float, false))
	}
	rows := s.T(out.MustNarrow(0, int64(lo), int64(hi-lo), false))
	rows.Copy_(f)
	return nil
}

// Pixels returns the raw-pixel baseline's features: every image of ds
// divided by 255, normalised with opts.Norm and flattened, as a CPU
// float32 tensor [N, C×H×W] that the caller frees (the reference's
// raw_pixels). opts.Transform applies as in Extract.
func Pixels(ctx context.Context, ds *data.Dataset, opts ExtractOptions) (*ts.Tensor, error) {
	if err := checkDataset(ds); err != nil {
		return nil, err
	}
	mean, std, err := opts.Norm.perChannel(ds.C)
	if err != nil {
		return nil, err
	}
	d := int64(ds.ImageSize())
	out := ts.MustZeros([]int64{int64(ds.N), d}, gotch.Float, gotch.CPU)
	bs := opts.batchSize()
	for lo := 0; lo < ds.N; lo += bs {
		if err := ctx.Err(); err != nil {
			out.MustDrop()
			return nil, fmt.Errorf("eval: pixels of %s: stopped after %d of %d images: %w", ds.Name, lo, ds.N, err)
		}
		hi := min(lo+bs, ds.N)
		x, err := images(ds, lo, hi, mean, std, gotch.CPU, opts)
		if err != nil {
			out.MustDrop()
			return nil, err
		}
		flat := x.MustView([]int64{int64(hi - lo), d}, false)
		rows := out.MustNarrow(0, int64(lo), int64(hi-lo), false)
		rows.Copy_(flat)
		rows.MustDrop()
		flat.MustDrop()
		x.MustDrop()
		if opts.Progress != nil {
			opts.Progress(hi, ds.N)
		}
	}
	return out, nil
}
