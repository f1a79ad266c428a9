package methodkit_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// mat is a [rows, cols] tensor of dtype dt filled with 0, 1, 2, ...; the
// test frees it.
func mat(t *testing.T, dt gotch.DType, shape ...int64) *ts.Tensor {
	t.Helper()
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	x, err := tensor.FromFloat64(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	x = x.MustTotype(dt, true)
	t.Cleanup(func() { x.MustDrop() })
	return x
}

func TestParams(t *testing.T) {
	defaults := method.Params{"lr": 0.1, "dim": int64(8)}
	tests := []struct {
		name    string
		config  method.Params
		want    method.Params
		wantErr string
	}{
		{"nil config", nil, method.Params{"lr": 0.1, "dim": int64(8)}, ""},
		{"override", method.Params{"lr": 0.5}, method.Params{"lr": 0.5, "dim": int64(8)}, ""},
		{"all keys", method.Params{"lr": 0.5, "dim": int64(4)}, method.Params{"lr": 0.5, "dim": int64(4)}, ""},
		{"unknown key", method.Params{"lrr": 0.5}, nil, `m: unknown config key "lrr" (known: [dim lr]); fix the method config`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := methodkit.Params("m", defaults, tt.config)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if len(defaults) != 2 || defaults["lr"] != 0.1 {
		t.Errorf("defaults changed: %v", defaults)
	}
}

func TestSamePairs(t *testing.T) {
	tests := []struct {
		name    string
		a, b    []int64
		da, db  gotch.DType
		minRows int64
		wantErr string
	}{
		{"ok", []int64{4, 3}, []int64{4, 3}, gotch.Float, gotch.Float, 2, ""},
		{"double", []int64{2, 3}, []int64{2, 3}, gotch.Double, gotch.Double, 2, ""},
		{"one row allowed", []int64{1, 3}, []int64{1, 3}, gotch.Float, gotch.Float, 1, ""},
		{"one row refused", []int64{1, 3}, []int64{1, 3}, gotch.Float, gotch.Float, 2, "batch of 1: want at least 2 samples"},
		{"shapes differ", []int64{4, 3}, []int64{4, 2}, gotch.Float, gotch.Float, 2, "want two [N, D] of one shape"},
		{"not matrices", []int64{12}, []int64{12}, gotch.Float, gotch.Float, 1, "want two [N, D] of one shape"},
		{"dtypes differ", []int64{4, 3}, []int64{4, 3}, gotch.Float, gotch.Double, 2, "want one float dtype"},
		{"not float", []int64{4, 3}, []int64{4, 3}, gotch.Int64, gotch.Int64, 2, "want one float dtype"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := methodkit.SamePairs(mat(t, tt.da, tt.a...), mat(t, tt.db, tt.b...), tt.minRows)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}

func TestFeatures(t *testing.T) {
	req := func(t *testing.T) method.StepRequest {
		return method.StepRequest{Features: method.Tensors{
			"a":    mat(t, gotch.Float, 4, 3),
			"b":    mat(t, gotch.Double, 4, 3),
			"one":  mat(t, gotch.Float, 1, 3),
			"rows": mat(t, gotch.Float, 5, 3),
			"int":  mat(t, gotch.Int64, 4, 3),
			"vec":  mat(t, gotch.Float, 12),
		}}
	}
	tests := []struct {
		name    string
		keys    []string
		minRows int64
		wantErr string
	}{
		{"one", []string{"a"}, 2, ""},
		{"mixed float dtypes", []string{"a", "b"}, 2, ""},
		{"single row allowed", []string{"one"}, 1, ""},
		{"single row refused", []string{"one"}, 2, "m step: feature one has shape [1 3], want [N ≥ 2, 3]"},
		{"missing", []string{"a", "nope"}, 1, "m step: "},
		{"wrong dim", []string{"vec"}, 1, "m step: feature vec has shape [12], want [N, 3]"},
		{"not float", []string{"int"}, 1, "m step: feature int is"},
		{"batch sizes differ", []string{"a", "rows"}, 2, "m step: feature rows has 5 rows, a has 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req(t)
			got, err := methodkit.Features("m", r, 3, tt.minRows, tt.keys...)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			for i, k := range tt.keys {
				if got[i] != r.Features[k] {
					t.Errorf("feature %d is not %s", i, k)
				}
			}
			if len(tt.keys) == 1 {
				f, err := methodkit.Feature("m", r, tt.keys[0], 3, tt.minRows)
				if err != nil || f != got[0] {
					t.Errorf("Feature = %v, %v; Features = %v", f, err, got[0])
				}
			}
		})
	}
}

func TestPair(t *testing.T) {
	req := method.StepRequest{Features: method.Tensors{
		"a":   mat(t, gotch.Float, 4, 3),
		"b":   mat(t, gotch.Float, 4, 3),
		"d":   mat(t, gotch.Double, 4, 3),
		"one": mat(t, gotch.Float, 1, 3),
		"w":   mat(t, gotch.Float, 4, 5),
	}}
	tests := []struct {
		name, k1, k2 string
		dim          int64
		wantErr      string
	}{
		{"ok", "a", "b", 3, ""},
		{"missing", "a", "nope", 3, "m step: "},
		{"shapes differ", "a", "w", 3, "m step: features: shapes [4 3] and [4 5]"},
		{"dtypes differ", "a", "d", 3, "m step: features: dtypes"},
		{"one row", "one", "one", 3, "m step: features: batch of 1"},
		{"wrong dim", "a", "b", 8, "m step: features of dimension 3, set up for 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f1, f2, err := methodkit.Pair("m", req, tt.k1, tt.k2, tt.dim)
			checkErr(t, err, tt.wantErr)
			if err == nil && (f1 != req.Features[tt.k1] || f2 != req.Features[tt.k2]) {
				t.Error("Pair returned other tensors than the request's")
			}
		})
	}
}

func TestFirstErr(t *testing.T) {
	e1, e2 := errors.New("one"), errors.New("two")
	tests := []struct {
		name string
		errs []error
		want error
	}{
		{"none", nil, nil},
		{"all nil", []error{nil, nil}, nil},
		{"first", []error{e1, e2}, e1},
		{"later", []error{nil, e2, e1}, e2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := methodkit.FirstErr(tt.errs...); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPairMask(t *testing.T) {
	tests := []struct {
		name   string
		assign []int64
		ncrops int64
		want   []float64
	}{
		{"dino globals", []int64{0, 1}, 3, []float64{0, 1, 1, 1, 0, 1}},
		{"swav subset", []int64{1}, 4, []float64{1, 0, 1, 1}},
		{"none", nil, 2, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := methodkit.PairMask(tt.assign, tt.ncrops, gotch.Double, gotch.CPU)
			defer m.MustDrop()
			if s := m.MustSize(); !slices.Equal(s, []int64{int64(len(tt.assign)), tt.ncrops}) {
				t.Fatalf("shape %v", s)
			}
			got, err := tensor.Float64s(m)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// linear is a Head that doubles its input, recording the batch it saw.
type linear struct{ rows int64 }

func (h *linear) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	h.rows = x.MustSize()[0]
	return x.MustMulScalar(ts.FloatScalar(2), false)
}

func TestProjectTogetherToHeadGrads(t *testing.T) {
	tests := []struct {
		name string
		dt   gotch.DType
		n    int64
	}{
		{"float", gotch.Float, 2},
		{"double", gotch.Double, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer nn.Autograd()()
			s := tensor.NewScope()
			defer s.Close()
			l1, l2 := s.T(nn.Leaf(mat(t, tt.dt, tt.n, 2))), s.T(nn.Leaf(mat(t, tt.dt, tt.n, 2)))
			h := &linear{}
			z1, z2 := methodkit.ProjectTogether(s, h, true, gotch.CPU, l1, l2)
			if h.rows != 2*tt.n {
				t.Errorf("head saw %d rows, want one batch of %d", h.rows, 2*tt.n)
			}
			if z1.DType() != gotch.Float || !slices.Equal(z2.MustSize(), []int64{tt.n, 2}) {
				t.Errorf("z1 %v, z2 %v: want float32 [%d, 2]", z1.DType(), z2.MustSize(), tt.n)
			}
			// d/dl1 Σ(3·z1 + z2) = 6, d/dl2 = 2
			loss := s.T(s.T(s.T(z1.MustMulScalar(ts.FloatScalar(3), false)).MustAdd(z2, false)).MustSum(gotch.Float, false))
			loss.MustBackward()
			g, err := methodkit.Grads([]string{"k1", "k2"}, []*ts.Tensor{l1, l2})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Drop()
			for k, want := range map[string]float64{"k1": 6, "k2": 2} {
				v, err := tensor.Float64s(s.T(g[k].MustTotype(gotch.Double, false)))
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range v {
					if x != want {
						t.Fatalf("grad %s = %v, want all %v", k, v, want)
					}
				}
			}
			if g["k1"].DType() != tt.dt {
				t.Errorf("grad dtype %v, want the leaf's %v", g["k1"].DType(), tt.dt)
			}
		})
	}
}
