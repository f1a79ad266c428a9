package cpcv2

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/tensor"
)

// TestTurn: after turning the grid for a direction, the position one row
// below (i+1, j) of the turned grid holds the original neighbour in that
// direction: below for down, above for up, to the right for right, to the
// left for left.
func TestTurn(t *testing.T) {
	runtime.LockOSThread()
	const g = 4
	v := make([]float64, g*g) // value = 10·row + column
	for i := range g {
		for j := range g {
			v[i*g+j] = float64(10*i + j)
		}
	}
	x, err := tensor.FromFloat64(v, 1, g, g, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	step := map[string][2]int{"down": {1, 0}, "up": {-1, 0}, "right": {0, 1}, "left": {0, -1}}
	for _, d := range directions {
		s := tensor.NewScope()
		y := turn(s, x, d).MustContiguous(false)
		got := y.Float64Values(true)
		s.Close()
		at := func(i, j int) float64 { return got[i*g+j] }
		for i := range g - 1 {
			for j := range g {
				here, next := at(i, j), at(i+1, j)
				r, c := int(here)/10, int(here)%10
				want := float64(10*(r+step[d][0]) + c + step[d][1])
				if next != want {
					t.Fatalf("%s: below %v (row %d, col %d) lies %v, want %v", d, here, r, c, next, want)
				}
				// origin maps turned positions back to the trunk's grid
				if oi, oj := origin(d, int64(i), int64(j), g); float64(10*oi+oj) != here {
					t.Fatalf("%s: origin of turned (%d, %d) is (%d, %d), which holds %v", d, i, j, oi, oj, here)
				}
			}
		}
	}
}

// TestIndexScores: the fused scoring of all directions and offsets equals
// the formula in loops, with each direction's positives read from the
// target grid turned by turn: Σ_direction Σ_offset mean CE.
func TestIndexScores(t *testing.T) {
	runtime.LockOSThread()
	const n, g, tdim, k, lo = 2, 4, 3, 2, 1
	dirs := []string{"down", "up", "right", "left"}
	r := rand.New(rand.NewPCG(3, 4))
	tg := make([]float64, n*g*g*tdim)
	for i := range tg {
		tg[i] = r.NormFloat64()
	}
	pr := make([]float64, len(dirs)*k*n*g*g*tdim)
	for i := range pr {
		pr[i] = r.NormFloat64()
	}
	s := tensor.NewScope()
	defer s.Close()
	targets := s.T(must(tensor.FromFloat64(tg, n*g*g, tdim)))
	preds := s.T(must(tensor.FromFloat64(pr, int64(len(dirs))*k*n*g*g, tdim)))
	loss, per, err := newIndex(n, g, k, lo, dirs).loss(s, preds, targets)
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	for _, v := range per {
		got += v
	}
	if v := loss.Float64Values(false)[0]; math.Abs(v-got) > 1e-12*math.Abs(got) {
		t.Errorf("loss %.17g, its rows sum to %.17g", v, got)
	}
	grid := s.T(targets.MustReshape([]int64{n, g, g, tdim}, false))
	want := 0.0
	for di, d := range dirs {
		turned := s.T(turn(s, grid, d).MustContiguous(false)).Float64Values(false)
		for a := range k {
			off := lo + a
			var sum float64
			var count int
			for b := range n {
				for i := 0; i+off < g; i++ {
					for j := range g {
						at := (((di*k+a)*n+b)*g+i)*g + j
						p := pr[at*tdim : (at+1)*tdim]
						pos := turned[((b*g+i+off)*g+j)*tdim : ((b*g+i+off)*g+j+1)*tdim]
						dot := func(v []float64) (x float64) {
							for e := range tdim {
								x += p[e] * v[e]
							}
							return x
						}
						var se float64
						for l := range n * g * g {
							se += math.Exp(dot(tg[l*tdim : (l+1)*tdim]))
						}
						sum += math.Log(se) - dot(pos)
						count++
					}
				}
			}
			want += sum / float64(count)
		}
	}
	if math.Abs(got-want) > 1e-10*math.Abs(want) {
		t.Fatalf("fused loss %.12g, loops %.12g", got, want)
	}
}

// TestLossGradient: the gradients the fused loss attaches by hand are
// autograd's of the plain formula (Σ w (logsumexp(p·tᵀ) − p·t_label)), for
// the predictions and the targets, whatever the chunk of rows scored at
// once (one row, a few, all).
func TestLossGradient(t *testing.T) {
	runtime.LockOSThread()
	const n, g, tdim, k, lo = 2, 4, 3, 2, 1
	dirs := []string{"down", "left"}
	r := rand.New(rand.NewPCG(5, 6))
	rnd := func(m int) []float64 {
		v := make([]float64, m)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	tg, pr := rnd(n*g*g*tdim), rnd(len(dirs)*k*n*g*g*tdim)
	leaf := func(s *tensor.Scope, v []float64, rows int64) *ts.Tensor {
		return s.T(s.T(must(tensor.FromFloat64(v, rows, tdim))).MustSetRequiresGrad(true, false))
	}
	s := tensor.NewScope()
	defer s.Close()
	// autograd of the plain formula
	ix := newIndex(n, g, k, lo, dirs)
	tw, pw := leaf(s, tg, n*g*g), leaf(s, pr, int64(len(dirs))*k*n*g*g)
	rows := s.T(must(tensor.FromInt64(ix.rows, int64(len(ix.rows)))))
	labels := s.T(must(tensor.FromInt64(ix.labels, int64(len(ix.labels)))))
	w := s.T(must(tensor.FromFloat64(ix.weights, int64(len(ix.weights)))))
	p := s.T(pw.MustIndexSelect(0, rows, false))
	lse := s.T(s.T(p.MustMm(s.T(tw.MustT(false)), false)).MustLogsumexp([]int64{1}, false, false))
	pos := s.T(s.T(p.MustMul(s.T(tw.MustIndexSelect(0, labels, false)), false)).MustSumDimIntlist([]int64{1}, false, gotch.Double, false))
	want := s.T(s.T(s.T(lse.MustSub(pos, false)).MustMul(w, false)).MustSum(gotch.Double, false))
	want.MustBackward()
	wantT, wantP := s.T(tw.MustGrad(false)).Float64Values(false), s.T(pw.MustGrad(false)).Float64Values(false)
	for _, chunk := range []int64{1, 3 * n * g * g, 0} {
		ix.chunk = chunk
		tv, pv := leaf(s, tg, n*g*g), leaf(s, pr, int64(len(dirs))*k*n*g*g)
		got, _, err := ix.loss(s, pv, tv)
		if err != nil {
			t.Fatal(err)
		}
		// scaled, as a trainer may weigh the loss
		s.T(got.MustMulScalar(ts.FloatScalar(1), false)).MustBackward()
		if a, b := got.Float64Values(false)[0], want.Float64Values(false)[0]; math.Abs(a-b) > 1e-12*math.Abs(b) {
			t.Errorf("chunk %d: loss %.15g, plain formula %.15g", chunk, a, b)
		}
		for _, c := range []struct {
			name      string
			got, want []float64
		}{
			{"targets", s.T(tv.MustGrad(false)).Float64Values(false), wantT},
			{"predictions", s.T(pv.MustGrad(false)).Float64Values(false), wantP},
		} {
			for i := range c.want {
				if math.Abs(c.got[i]-c.want[i]) > 1e-12 {
					t.Fatalf("chunk %d: gradient of the %s [%d] %.15g, autograd of the formula %.15g", chunk, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}

func must(x *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(err)
	}
	return x
}
