package tensor

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestRoundTrips(t *testing.T) {
	cases := []struct {
		name  string
		shape []int64
	}{
		{"matrix", []int64{2, 3}},
		{"scalar", []int64{}},
		{"empty", []int64{0, 4}},
		{"images", []int64{2, 1, 3, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := Numel(c.shape)
			f32 := make([]float32, n)
			f64 := make([]float64, n)
			i64 := make([]int64, n)
			for i := range n {
				f32[i] = float32(i) * 0.5
				f64[i] = math.Pi * float64(i)
				i64[i] = -3 * i
			}
			x, err := FromFloat32(f32, c.shape...)
			if err != nil {
				t.Fatal(err)
			}
			defer x.MustDrop()
			if got := x.MustSize(); !slices.Equal(got, c.shape) {
				t.Errorf("shape %v, want %v", got, c.shape)
			}
			if got, err := Float32s(x); err != nil || !slices.Equal(got, f32) {
				t.Errorf("float32 round trip: %v %v", got, err)
			}
			y, err := FromFloat64(f64, c.shape...)
			if err != nil {
				t.Fatal(err)
			}
			defer y.MustDrop()
			if got, err := Float64s(y); err != nil || !slices.Equal(got, f64) {
				t.Errorf("float64 round trip: %v %v", got, err)
			}
			z, err := FromInt64(i64, c.shape...)
			if err != nil {
				t.Fatal(err)
			}
			defer z.MustDrop()
			if got, err := Int64s(z); err != nil || !slices.Equal(got, i64) {
				t.Errorf("int64 round trip: %v %v", got, err)
			}
			raw, err := AppendBytes(nil, y)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range f64 {
				if got := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])); got != v {
					t.Fatalf("byte %d: %v, want %v", i, got, v)
				}
			}
			w, err := FromBytes(raw, gotch.Double, c.shape)
			if err != nil {
				t.Fatal(err)
			}
			defer w.MustDrop()
			if got, _ := Float64s(w); !slices.Equal(got, f64) {
				t.Errorf("bytes round trip: %v", got)
			}
		})
	}
}

func TestConversionErrors(t *testing.T) {
	if _, err := FromFloat32([]float32{1, 2, 3}, 2, 2); err == nil {
		t.Error("3 values into a 2x2 shape: want an error")
	}
	if _, err := FromBytes(make([]byte, 7), gotch.Float, []int64{2}); err == nil {
		t.Error("7 bytes as 2 float32: want an error")
	}
	x, _ := FromInt64([]int64{1}, 1)
	defer x.MustDrop()
	if _, err := Float32s(x); err == nil {
		t.Error("Float32s of an int64 tensor: want an error")
	}
}

func TestNonContiguousBytes(t *testing.T) {
	x, _ := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	defer x.MustDrop()
	xt := x.MustT(false) // a transposed view
	defer xt.MustDrop()
	got, err := Float32s(xt)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 4, 2, 5, 3, 6}; !slices.Equal(got, want) {
		t.Errorf("transposed values %v, want %v", got, want)
	}
}

func TestScope(t *testing.T) {
	s := NewScope()
	a := s.T(mustF32(t, 1, 2))
	b := s.T(a.MustMulScalar(ts2(), false))
	keep := s.Detach(s.T(b.MustAddScalar(ts2(), false)))
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	s.Close()
	if s.Len() != 0 {
		t.Fatalf("Len after Close = %d", s.Len())
	}
	got, err := Float32s(keep)
	if err != nil {
		t.Fatalf("detached tensor unusable after Close: %v", err)
	}
	if want := []float32{4, 6}; !slices.Equal(got, want) {
		t.Errorf("kept values %v, want %v", got, want)
	}
	keep.MustDrop()
}

func TestParseDevice(t *testing.T) {
	type tc struct {
		in      string
		want    string
		wantErr bool
	}
	cases := []tc{
		{"cpu", "cpu", false},
		{"", "cpu", false},
		{"CPU", "cpu", false},
		{"tpu", "", true},
		{"cuda:x", "", true},
	}
	if gotch.CUDA.DeviceCount() == 0 {
		cases = append(cases, tc{"auto", "cpu", false}, tc{"cuda", "", true})
	} else {
		cases = append(cases, tc{"auto", "cuda:0", false}, tc{"cuda", "cuda:0", false})
	}
	for _, c := range cases {
		d, err := ParseDevice(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseDevice(%q) error = %v, wantErr %v", c.in, err, c.wantErr)
			continue
		}
		if err == nil && DeviceName(d) != c.want {
			t.Errorf("ParseDevice(%q) = %s, want %s", c.in, DeviceName(d), c.want)
		}
	}
}

// TestNoGradPinned: in-place updates of a leaf that requires grad are legal
// only with autograd off; run many from fresh goroutines (which may land on
// any OS thread) to catch grad mode leaking across threads.
func TestNoGradPinned(t *testing.T) {
	x, err := FromFloat64([]float64{1, 2, 3}, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	x.MustRequiresGrad_(true)
	done := make(chan error)
	for range 50 {
		go func() {
			var err error
			NoGrad(func() {
				y := x.MustMulScalar(ts.FloatScalar(0), false)
				x.MustAdd_(y)
				y.MustDrop()
				err = ts.TorchErr()
			})
			done <- err
		}()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := Float64s(x.MustDetach(false)); got[2] != 3 {
		t.Errorf("x changed: %v", got)
	}
}
