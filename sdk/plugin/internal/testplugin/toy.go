// Package testplugin is a toy method for sdk/plugin's tests and benchmark:
// a linear head W (D×out) on the pooled features of one view, loss =
// mean((x W)^2), trained by plain gradient descent with analytic gradients,
// and Loss on role "x": scale * mean(x^2). Config "fault" makes it misbehave
// on purpose (wrong shape, dtype, NaN loss, panic, exit) so that the host's
// checks can be tested.
package testplugin

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Constructors are the methods the test plugin serves: "toy", and "toy2", a
// second name for the same method (a family of two).
func Constructors() []method.Constructor {
	return []method.Constructor{
		{Name: "toy", Summary: "linear head, mean squared output (test method)", New: func() method.Method { return New("toy") }},
		{Name: "toy2", Summary: "the toy method under a second name", New: func() method.Method { return New("toy2") }},
	}
}

// Toy is the toy method.
type Toy struct {
	name  string
	w     *ts.Tensor // float32 [D, out]
	d     int64
	out   int64
	lr    float64
	step  int64
	fault string
	sleep time.Duration
	log   bool
	calls int64
}

// New returns a toy method reporting name.
func New(name string) *Toy { return &Toy{name: name} }

// Spec is one online view with the default pooled tap.
func (m *Toy) Spec() method.Spec {
	return method.Spec{
		Name:     m.name,
		Views:    []method.View{{Name: "v1", Recipe: "identity", Online: true}},
		Defaults: method.Params{"out": 8.0, "lr": 0.05, "fault": "", "tags": []int64{1, 2}},
		Docs:     map[string]string{"lr": "learning rate of the toy's weights"},
	}
}

// Setup makes W from the seed.
func (m *Toy) Setup(ctx context.Context, req method.SetupRequest) (method.SetupResponse, error) {
	p := method.Params{}
	for k, v := range m.Spec().Defaults {
		p[k] = v
	}
	for k, v := range req.Config {
		p[k] = v
	}
	var err error
	if m.out, err = p.Int("out"); err != nil {
		return method.SetupResponse{}, err
	}
	if m.lr, err = p.Float("lr"); err != nil {
		return method.SetupResponse{}, err
	}
	if m.fault, err = p.StringOr("fault", ""); err != nil {
		return method.SetupResponse{}, err
	}
	ms, err := p.IntOr("sleep_ms", 0)
	if err != nil {
		return method.SetupResponse{}, err
	}
	m.sleep = time.Duration(ms) * time.Millisecond
	if m.log, err = p.BoolOr("log", false); err != nil {
		return method.SetupResponse{}, err
	}
	dims, ok := req.FeatureDims["pooled"]
	if !ok || len(dims) != 1 {
		return method.SetupResponse{}, fmt.Errorf("toy wants FeatureDims[\"pooled\"] = [D], got %v", req.FeatureDims)
	}
	m.d = dims[0]
	rng := rand.New(rand.NewPCG(uint64(req.Seed), 7))
	w := make([]float32, m.d*m.out)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.1)
	}
	dev, err := tensor.ParseDevice(req.Device)
	if err != nil {
		return method.SetupResponse{}, err
	}
	if err := m.setW(w, dev); err != nil {
		return method.SetupResponse{}, err
	}
	zerolog.Ctx(ctx).Info().Int64("d", m.d).Int64("out", m.out).Msg("toy set up")
	return method.SetupResponse{Parameters: m.d * m.out}, nil
}

func (m *Toy) setW(w []float32, dev gotch.Device) error {
	t, err := tensor.FromFloat32(w, m.d, m.out)
	if err != nil {
		return err
	}
	if dev.IsCuda() {
		t = t.MustTo(dev, true)
	}
	if m.w != nil {
		m.w.MustDrop()
	}
	m.w = t
	return nil
}

// Loss is scale * mean(x^2) on role "x"; state "calls" counts the calls.
func (m *Toy) Loss(ctx context.Context, in method.LossInput) (method.LossOutput, error) {
	x, err := in.Inputs.Get("x")
	if err != nil {
		return method.LossOutput{}, err
	}
	scale, err := in.Params.FloatOr("scale", 1)
	if err != nil {
		return method.LossOutput{}, err
	}
	s := tensor.NewScope()
	defer s.Close()
	n := float64(x.Numel())
	sq := s.T(x.MustSquare(false))
	loss := s.T(sq.MustMean(x.DType(), false)).Float64Values()[0] * scale
	m.calls++
	calls, err := tensor.FromInt64([]int64{m.calls}, 1)
	if err != nil {
		return method.LossOutput{}, err
	}
	out := method.LossOutput{Loss: loss, Grads: method.Tensors{}, State: method.Tensors{"calls": calls}}
	if !in.IsDetached("x") {
		c := ts.FloatScalar(2 * scale / n)
		defer c.MustDrop()
		out.Grads["x"] = x.MustMulScalar(c, false)
	}
	return out, nil
}

// Step trains W on every online feature and returns d loss / d features.
func (m *Toy) Step(ctx context.Context, req method.StepRequest) (method.StepResponse, error) {
	if m.w == nil {
		return method.StepResponse{}, fmt.Errorf("toy: Step before Setup")
	}
	if m.sleep > 0 {
		select {
		case <-time.After(m.sleep):
		case <-ctx.Done():
			return method.StepResponse{}, ctx.Err()
		}
	}
	switch m.fault {
	case "panic":
		panic("toy: asked to panic")
	case "exit":
		os.Exit(3)
	}
	s := tensor.NewScope()
	defer s.Close()
	resp := method.StepResponse{Grads: method.Tensors{}, Metrics: map[string]float64{}}
	for _, k := range req.Features.Names() {
		x := req.Features[k]
		n := x.MustSize()[0]
		w := m.w
		if x.DType() != gotch.Float {
			w = s.T(m.w.MustTotype(x.DType(), false))
		}
		z := s.T(x.MustMm(w, false))
		resp.Loss += s.T(s.T(z.MustSquare(false)).MustMean(x.DType(), false)).Float64Values()[0]
		c := ts.FloatScalar(2 / float64(n*m.out))
		dz := s.T(z.MustMulScalar(c, false))
		c.MustDrop()
		resp.Grads[k] = dz.MustMm(s.T(w.MustT(false)), false)
		if req.Train {
			gw := s.T(s.T(x.MustT(false)).MustMm(dz, false))
			if gw.DType() != gotch.Float {
				gw = s.T(gw.MustTotype(gotch.Float, false))
			}
			lr := ts.FloatScalar(m.lr)
			upd := s.T(gw.MustMulScalar(lr, false))
			lr.MustDrop()
			m.w.MustSub_(upd)
		}
	}
	if req.Train {
		m.step++
	}
	resp.Metrics["w_norm"] = s.T(m.w.MustNorm(false)).Float64Values()[0]
	if m.log {
		zerolog.Ctx(ctx).Info().Int64("step", req.Step).Float64("loss", resp.Loss).Msg("toy step")
	}
	switch m.fault {
	case "nan":
		resp.Loss = math.NaN()
	case "shape", "dtype":
		for k, g := range resp.Grads {
			if m.fault == "shape" {
				resp.Grads[k] = g.MustNarrow(1, 0, 1, true)
			} else {
				resp.Grads[k] = g.MustTotype(gotch.Double, true)
			}
		}
	case "missing":
		resp.Grads.Drop()
	}
	return resp, nil
}

// Save writes "TOY1", D, out, the step counter and W.
func (m *Toy) Save(ctx context.Context) ([]byte, error) {
	if m.w == nil {
		return nil, fmt.Errorf("toy: Save before Setup")
	}
	var b bytes.Buffer
	b.WriteString("TOY1")
	for _, v := range []int64{m.d, m.out, m.step, m.calls} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	return tensor.AppendBytes(b.Bytes(), m.w)
}

// Load reads what Save wrote.
func (m *Toy) Load(ctx context.Context, state []byte) error {
	if len(state) < 36 || string(state[:4]) != "TOY1" {
		return fmt.Errorf("toy: not a toy state (%d bytes)", len(state))
	}
	var h [4]int64
	if err := binary.Read(bytes.NewReader(state[4:36]), binary.LittleEndian, &h); err != nil {
		return err
	}
	if m.w != nil && (h[0] != m.d || h[1] != m.out) {
		return fmt.Errorf("toy: state is for %dx%d, set up for %dx%d", h[0], h[1], m.d, m.out)
	}
	m.d, m.out, m.step, m.calls = h[0], h[1], h[2], h[3]
	t, err := tensor.FromBytes(state[36:], gotch.Float, []int64{m.d, m.out})
	if err != nil {
		return err
	}
	dev := gotch.CPU
	if m.w != nil {
		dev = m.w.MustDevice()
		m.w.MustDrop()
	}
	if dev.IsCuda() {
		t = t.MustTo(dev, true)
	}
	m.w = t
	return nil
}

// Close frees W.
func (m *Toy) Close() error {
	if m.w != nil {
		m.w.MustDrop()
		m.w = nil
	}
	return nil
}
