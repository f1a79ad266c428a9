package optim_test

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
)

// quadratic is a loss with a gradient for every parameter of a Linear.
func quadratic(l *nn.Linear, x *ts.Tensor) *ts.Tensor {
	y := l.Forward(x)
	defer y.MustDrop()
	sq := y.MustSquare(false)
	defer sq.MustDrop()
	return sq.MustMean(gotch.Float, false)
}

// TestAdamMatchesLibtorch (an external test: sdk/nn imports optim): Adam with L2 decay on every parameter (DecayAll)
// follows libtorch's own torch::optim::Adam to 1e-6 over 10 steps.
func TestAdamMatchesLibtorch(t *testing.T) {
	defer nn.Autograd()()
	x, _ := nn.Normal(nn.NewRand(9), gotch.CPU, 5, 4)
	defer x.MustDrop()
	build := func() (*gnn.VarStore, *nn.Linear) {
		vs := gnn.NewVarStore(gotch.CPU)
		l, err := nn.NewLinear(vs.Root(), nn.NewRand(7), 4, 3, true)
		if err != nil {
			t.Fatal(err)
		}
		return vs, l
	}
	vsA, la := build()
	defer vsA.Destroy()
	vsB, lb := build()
	defer vsB.Destroy()
	ours, err := optim.New(optim.Config{Name: "adam", LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}, optim.DecayAll(optim.Params(vsA)))
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	theirs, err := gnn.NewAdamConfig(0.9, 0.999, 0.01).Build(vsB, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		la1 := quadratic(la, x)
		ours.ZeroGrad()
		la1.MustBackward()
		if err := ours.Step(); err != nil {
			t.Fatal(err)
		}
		la1.MustDrop()
		lb1 := quadratic(lb, x)
		theirs.MustZeroGrad()
		lb1.MustBackward()
		theirs.MustStep()
		lb1.MustDrop()
	}
	for _, p := range [][2]*ts.Tensor{{la.W, lb.W}, {la.B, lb.B}} {
		a, b := p[0].Float64Values(), p[1].Float64Values()
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-6 {
				t.Fatalf("after 10 steps parameter %d: ours %v, libtorch %v", i, a[i], b[i])
			}
		}
	}
	state, steps, err := ours.State()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range state {
		s.MustDrop()
	}
	if steps != 10 {
		t.Errorf("step count = %d", steps)
	}
}
