package eval

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestAlignUniformHandComputed(t *testing.T) {
	s3 := math.Sqrt(3) / 2
	cases := []struct {
		name        string
		x, y        [][]float64
		opts        AlignUniformOptions
		wantAlign   float64 // NaN: no pairs
		wantUniform float64
	}{
		{
			// One pair at squared distance 2: U(x) = log e^{−4} = −4. y is
			// one point twice: U(y) = log e^0 = 0. Pairs (1,0)-(1,0) at 0
			// and (0,1)-(1,0) at 2: align = 1.
			name: "orthogonal and equal", x: [][]float64{{1, 0}, {0, 1}}, y: [][]float64{{1, 0}, {1, 0}},
			wantAlign: 1, wantUniform: -2,
		},
		{
			// Three points 120° apart: every squared distance is 3, U = −6.
			name: "triangle, uniformity only", x: [][]float64{{1, 0}, {-0.5, s3}, {-0.5, -s3}},
			wantAlign: math.NaN(), wantUniform: -6,
		},
		{
			// The same triangle scaled: normalisation brings it back.
			name: "scaled triangle is normalised", x: [][]float64{{3, 0}, {-1, 2 * s3}, {-0.25, -0.5 * s3}},
			wantAlign: math.NaN(), wantUniform: -6,
		},
		{
			// alpha = 1 takes the plain distance: pairs at √2 and 0.
			// t = 1: U(x) = −2, U(y) = 0.
			name: "alpha 1, t 1", x: [][]float64{{1, 0}, {0, 1}}, y: [][]float64{{0, 1}, {0, 1}},
			opts:      AlignUniformOptions{Alpha: 1, T: 1},
			wantAlign: math.Sqrt2 / 2, wantUniform: -1,
		},
		{
			// Four points: squared distances 2 (four pairs) and 4 (two
			// pairs): U = log((4e^{−4} + 2e^{−8})/6).
			name: "square", x: [][]float64{{1, 0}, {0, 1}, {-1, 0}, {0, -1}},
			wantAlign: math.NaN(), wantUniform: math.Log((4*math.Exp(-4) + 2*math.Exp(-8)) / 6),
		},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 2, 1000} {
			t.Run(c.name, func(t *testing.T) {
				x := matrix(t, c.x)
				defer x.MustDrop()
				var y *ts.Tensor
				if c.y != nil {
					y = matrix(t, c.y)
					defer y.MustDrop()
				}
				opts := c.opts
				opts.Chunk = chunk
				got, err := AlignUniform(context.Background(), x, y, opts)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got.Uniform-c.wantUniform) > 1e-6 {
					t.Errorf("chunk %d: uniform %v, want %v", chunk, got.Uniform, c.wantUniform)
				}
				if math.IsNaN(c.wantAlign) {
					if got.HasAlign {
						t.Errorf("align %v without a second view", got.Align)
					}
				} else if !got.HasAlign || math.Abs(got.Align-c.wantAlign) > 1e-6 {
					t.Errorf("align %v (set %v), want %v", got.Align, got.HasAlign, c.wantAlign)
				}
			})
		}
	}
}

// conformanceCase is the part of a golden case file (conformance/FORMAT.md)
// that AlignUniform checks: the align and uniform components.
type conformanceCase struct {
	Case   string `json:"case"`
	Params struct {
		Alpha   float64 `json:"alpha"`
		T       float64 `json:"t"`
		Align   float64 `json:"align_component"`
		Uniform float64 `json:"uniform_component"`
	} `json:"params"`
	Inputs map[string]struct {
		Shape []int64   `json:"shape"`
		Data  []float64 `json:"data"`
	} `json:"inputs"`
	Tolerance struct {
		Rtol float64 `json:"rtol"`
		Atol float64 `json:"atol"`
	} `json:"tolerance"`
}

// TestAlignUniformConformance checks the align and uniform components of
// golden cases (the repository copy of the shared ones), made by SsnL/align_uniform in float64.
func TestAlignUniformConformance(t *testing.T) {
	files, _ := filepath.Glob("../conformance/testdata/cases/align_uniform-*.json")
	if len(files) == 0 {
		t.Fatal("no align_uniform cases in ../conformance/testdata/cases")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c conformanceCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			in := func(name string) *ts.Tensor {
				v := c.Inputs[name]
				return matrix64(t, v.Data, v.Shape[0], v.Shape[1])
			}
			x, y := in("x"), in("y")
			defer x.MustDrop()
			defer y.MustDrop()
			for _, asGiven := range []bool{true, false} { // the inputs are unit vectors
				got, err := AlignUniform(context.Background(), x, y, AlignUniformOptions{Alpha: c.Params.Alpha, T: c.Params.T, AsGiven: asGiven, Chunk: 3})
				if err != nil {
					t.Fatal(err)
				}
				within := func(got, want float64) bool {
					return math.Abs(got-want) <= c.Tolerance.Atol+c.Tolerance.Rtol*math.Abs(want)
				}
				if !within(got.Align, c.Params.Align) {
					t.Errorf("as given %v: align %.12g, golden %.12g", asGiven, got.Align, c.Params.Align)
				}
				if !within(got.Uniform, c.Params.Uniform) {
					t.Errorf("as given %v: uniform %.12g, golden %.12g", asGiven, got.Uniform, c.Params.Uniform)
				}
			}
		})
	}
}

// TestUniformityMatchesPdist checks the blocked sum against libtorch's
// pdist on random data, as the reference's uniform_loss computes it.
func TestUniformityMatchesPdist(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	x := matrix(t, gaussianRows(rng, 97, 6))
	defer x.MustDrop()
	got, err := AlignUniform(context.Background(), x, nil, AlignUniformOptions{Chunk: 10})
	if err != nil {
		t.Fatal(err)
	}
	xd := asType(x, gotch.Double)
	defer xd.MustDrop()
	xn := l2Normalize(xd)
	defer xn.MustDrop()
	pd := xn.MustPdist(2, false)
	defer pd.MustDrop()
	d := pd.Float64Values()
	sum := 0.0
	for _, v := range d {
		sum += math.Exp(-2 * v * v)
	}
	want := math.Log(sum / float64(len(d)))
	if math.Abs(got.Uniform-want) > 1e-9 {
		t.Errorf("uniform %.12g, pdist gives %.12g", got.Uniform, want)
	}
}

func TestAlignUniformErrors(t *testing.T) {
	x := matrix(t, [][]float64{{1, 0}, {0, 1}})
	defer x.MustDrop()
	one := matrix(t, [][]float64{{1, 0}})
	defer one.MustDrop()
	x3 := matrix(t, [][]float64{{1, 0, 0}, {0, 1, 0}})
	defer x3.MustDrop()
	cases := []struct {
		name       string
		x, y       *ts.Tensor
		opts       AlignUniformOptions
		wantSubstr string
	}{
		{"one feature", one, nil, AlignUniformOptions{}, "at least 2"},
		{"views differ in shape", x, x3, AlignUniformOptions{}, "two views of the same images"},
		{"negative t", x, nil, AlignUniformOptions{T: -2}, "both > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := AlignUniform(context.Background(), c.x, c.y, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
				t.Errorf("error %v, want one containing %q", err, c.wantSubstr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := AlignUniform(ctx, x, nil, AlignUniformOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}
