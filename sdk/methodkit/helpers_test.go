package methodkit_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/methodkit"
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
