package eval

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The bank of the hand-worked cases: after L2 normalisation
// a=(1,0) class 0, b=(0,1) class 1, c=(1,1)/√2 class 1, d=(−1,0) class 0.
var handBank = [][]float64{{2, 0}, {0, 3}, {1, 1}, {-1, 0}}
var handBankLabels = []int{0, 1, 1, 0}

func TestKNNHandComputed(t *testing.T) {
	// q1 = (1, 0.2) has cosine 0.981 with a, 0.832 with c, 0.196 with b,
	// −0.981 with d. q2 = (−1, 1) has 0.707 with b and d, 0 with c,
	// −0.707 with a.
	cases := []struct {
		name  string
		query []float64
		label int
		k     int
		temp  float64
		want  float64 // accuracy %
		why   string
	}{
		{"weights beat majority", []float64{1, 0.2}, 0, 3, 0.1, 100,
			"top 3 = a(0), c(1), b(1): class 0 scores e^9.81 = 18150, class 1 e^8.32+e^1.96 = 4118"},
		{"high temperature is a majority vote", []float64{1, 0.2}, 0, 3, 10, 0,
			"class 0 scores e^0.098 = 1.10, class 1 e^0.083+e^0.020 = 2.11"},
		{"nearest neighbour", []float64{1, 0.2}, 0, 1, 0.1, 100, "a is nearest"},
		{"k above the bank size uses the whole bank", []float64{1, 0.2}, 0, 10, 0.1, 100,
			"class 0 e^9.81+e^−9.81, class 1 e^8.32+e^1.96"},
		{"a third neighbour breaks the tie", []float64{-1, 1}, 1, 3, 0.1, 100,
			"b(1) and d(0) tie at e^7.07, c(1) adds e^0 = 1 to class 1"},
		{"an exact tie goes to the lowest class", []float64{-1, 1}, 1, 2, 0.1, 0,
			"b(1) and d(0) both score e^7.07; class 0 wins the tie"},
	}
	ctx := context.Background()
	bank := matrix(t, handBank)
	defer bank.MustDrop()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := matrix(t, [][]float64{c.query})
			defer q.MustDrop()
			got, err := KNN(ctx, bank, handBankLabels, q, []int{c.label}, KNNOptions{K: c.k, T: c.temp, Classes: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got.Accuracy != c.want {
				t.Errorf("accuracy %v, want %v (%s)", got.Accuracy, c.want, c.why)
			}
			if wantK := min(c.k, len(handBank)); got.K != wantK {
				t.Errorf("K = %d, want %d", got.K, wantK)
			}
		})
	}
}

// naiveKNN is a plain float64 transcription of the reference's
// knn_accuracy, one query at a time.
func naiveKNN(train [][]float64, ytr []int, test [][]float64, yte []int, k int, temp float64, classes int) float64 {
	unit := func(v []float64) []float64 {
		n := 0.0
		for _, x := range v {
			n += x * x
		}
		n = math.Max(math.Sqrt(n), 1e-12)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = x / n
		}
		return out
	}
	bank := make([][]float64, len(train))
	for i, v := range train {
		bank[i] = unit(v)
	}
	correct := 0
	for qi, v := range test {
		q := unit(v)
		type nb struct {
			sim float64
			i   int
		}
		nbs := make([]nb, len(bank))
		for i, b := range bank {
			s := 0.0
			for j := range q {
				s += q[j] * b[j]
			}
			nbs[i] = nb{s, i}
		}
		sort.Slice(nbs, func(a, b int) bool { return nbs[a].sim > nbs[b].sim })
		score := make([]float64, classes)
		for _, n := range nbs[:min(k, len(nbs))] {
			score[ytr[n.i]] += math.Exp(n.sim / temp)
		}
		best := 0
		for c := range score {
			if score[c] > score[best] {
				best = c
			}
		}
		if best == yte[qi] {
			correct++
		}
	}
	return 100 * float64(correct) / float64(len(test))
}

func TestKNNMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const classes = 4
	// Class means set apart so the answer is neither 0 nor 100 %.
	mk := func(n int) ([][]float64, []int) {
		rows := gaussianRows(rng, n, 6)
		labels := make([]int, n)
		for i := range rows {
			labels[i] = rng.IntN(classes)
			rows[i][labels[i]] += 1.2
		}
		return rows, labels
	}
	train, ytr := mk(257)
	test, yte := mk(123)
	xtr, xte := matrix(t, train), matrix(t, test)
	defer xtr.MustDrop()
	defer xte.MustDrop()
	for _, c := range []struct {
		k, chunk int
		temp     float64
	}{{20, 10, 0.1}, {200, 500, 0.1}, {5, 1, 0.5}, {257, 64, 0.07}} {
		got, err := KNN(context.Background(), xtr, ytr, xte, yte, KNNOptions{K: c.k, T: c.temp, Chunk: c.chunk, Classes: classes})
		if err != nil {
			t.Fatal(err)
		}
		want := naiveKNN(train, ytr, test, yte, c.k, c.temp, classes)
		if math.Abs(got.Accuracy-want) > 1e-9 {
			t.Errorf("k=%d chunk=%d T=%v: accuracy %v, want %v (naive)", c.k, c.chunk, c.temp, got.Accuracy, want)
		}
		if want == 0 || want == 100 {
			t.Errorf("k=%d: naive accuracy %v does not discriminate; change the data", c.k, want)
		}
	}
}

func TestKNNFloat64Features(t *testing.T) {
	bank := matrix(t, handBank)
	defer bank.MustDrop()
	b64 := bank.MustTotype(gotch.Double, false)
	defer b64.MustDrop()
	q := matrix(t, [][]float64{{1, 0.2}})
	defer q.MustDrop()
	got, err := KNN(context.Background(), b64, handBankLabels, q, []int{0}, KNNOptions{K: 3})
	if err != nil || got.Accuracy != 100 {
		t.Errorf("float64 bank: %+v, %v; want 100 %%", got, err)
	}
}

func TestKNNErrors(t *testing.T) {
	bank := matrix(t, handBank)
	defer bank.MustDrop()
	q := matrix(t, [][]float64{{1, 0.2}})
	defer q.MustDrop()
	q3 := matrix(t, [][]float64{{1, 0.2, 3}})
	defer q3.MustDrop()
	vec := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU)
	defer vec.MustDrop()
	ints := ts.MustOnes([]int64{1, 2}, gotch.Int64, gotch.CPU)
	defer ints.MustDrop()
	cases := []struct {
		name       string
		train      *ts.Tensor
		ytr        []int
		test       *ts.Tensor
		yte        []int
		opts       KNNOptions
		wantSubstr string
	}{
		{"no train features", nil, handBankLabels, q, []int{0}, KNNOptions{}, "no train features"},
		{"vector, not matrix", vec, handBankLabels, q, []int{0}, KNNOptions{}, "want a non-empty matrix"},
		{"integer features", bank, handBankLabels, ints, []int{0}, KNNOptions{}, "floating-point"},
		{"dimensions differ", bank, handBankLabels, q3, []int{0}, KNNOptions{}, "same encoder"},
		{"too few labels", bank, handBankLabels[:3], q, []int{0}, KNNOptions{}, "3 train labels for 4"},
		{"label out of range", bank, handBankLabels, q, []int{2}, KNNOptions{Classes: 2}, "outside [0, 2)"},
		{"unlabelled", bank, handBankLabels, q, []int{-1}, KNNOptions{}, "outside"},
		{"negative temperature", bank, handBankLabels, q, []int{0}, KNNOptions{T: -1}, "T > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := KNN(context.Background(), c.train, c.ytr, c.test, c.yte, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
				t.Errorf("error %v, want one containing %q", err, c.wantSubstr)
			}
		})
	}
}

func TestKNNCancelled(t *testing.T) {
	bank := matrix(t, handBank)
	defer bank.MustDrop()
	q := matrix(t, [][]float64{{1, 0.2}})
	defer q.MustDrop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := KNN(ctx, bank, handBankLabels, q, []int{0}, KNNOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
