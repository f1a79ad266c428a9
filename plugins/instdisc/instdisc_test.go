package instdisc_test

import (
	"context"
	"math"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/plugins/instdisc"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, instdisc.Constructor(), "")
}

// TestEstimateZ checks Z on first use against the Z the reference computed
// on each case's (first) call.
func TestEstimateZ(t *testing.T) {
	all, err := conformance.LoadCases("")
	if err != nil {
		t.Fatal(err)
	}
	cases := conformance.ForMethod(all, instdisc.Name)
	if len(cases) == 0 {
		t.Fatal("no instdisc cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in, err := c.LossInput()
			if err != nil {
				t.Fatal(err)
			}
			defer conformance.DropInput(in)
			want, _ := in.Params.Float("T")
			wantZ, _ := in.Params.Float("Z")
			var got float64
			tensor.Pinned(func() {
				got = instdisc.EstimateZ(in.Inputs["x"], in.Inputs["memory"], in.IntInputs["sample_idx"], want)
			})
			if math.Abs(got-wantZ) > 1e-9*math.Abs(wantZ) {
				t.Errorf("Z = %v, the reference's first call gave %v", got, wantZ)
			}
		})
	}
}

// withIDs feeds TestStep's random batches with sample ids 0..N−1 and a
// data set of 512 samples, which the generic smoke test does not send.
type withIDs struct {
	*methodkit.Method[instdisc.Config]
}

func (w withIDs) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	if req.NumSamples == 0 {
		req.NumSamples = 512
	}
	return w.Method.Setup(ctx, req)
}

func (w withIDs) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if req.SampleIDs == nil {
		for _, f := range req.Features {
			ids := nn.Arange(f.MustSize()[0], gotch.CPU)
			defer ids.MustDrop()
			req.SampleIDs = ids
			break
		}
	}
	return w.Method.Step(ctx, req)
}

func TestStep(t *testing.T) {
	ctor := method.Constructor{Name: instdisc.Name, New: func() method.Method { return withIDs{instdisc.New()} }}
	conformance.TestStep(t, ctor, conformance.StepOptions{Config: method.Params{"K": int64(64)}})
}

func TestStepNeedsIDs(t *testing.T) {
	m := instdisc.New()
	defer m.Close()
	ctx := context.Background()
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Device: "cpu", Seed: 1}); err == nil {
		t.Fatal("Setup without NumSamples succeeded; the bank needs the data set's size")
	}
	if _, err := m.Setup(ctx, method.SetupRequest{FeatureDims: map[string][]int64{"pooled": {8}}, Device: "cpu", Seed: 1, NumSamples: 16}); err != nil {
		t.Fatal(err)
	}
	req, err := conformance.RandomStep(m.Spec(), 4, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Features.Drop()
	if _, err := m.Step(ctx, req); err == nil {
		t.Error("Step without sample ids succeeded")
	}
}

func TestSpec(t *testing.T) {
	s := instdisc.New().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.SampleIDs || len(s.Views) != 1 || s.Target != nil {
		t.Errorf("spec %+v: want one online view and sample ids", s)
	}
}
