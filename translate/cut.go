package translate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Config is a CUT or FastCUT model (models/cut_model.py) on the generator
// and discriminator configs.
type Config struct {
	G GeneratorConfig
	D DiscriminatorConfig
	// LambdaGAN weighs the LSGAN term of the generator's loss (1).
	LambdaGAN float64
	// LambdaNCE, NCEIdt, NCELayers, NumPatches and the NCE temperature
	// are the PatchNCE method's (sent to it as its config).
	LambdaNCE  float64
	NCEIdt     bool
	NCELayers  []int
	NumPatches int
	NCET       float64
	// FlipEquivariance flips the generator's input half the time and the
	// query features back (FastCUT).
	FlipEquivariance bool
	// LR, Beta1, Beta2: Adam of G and D (2e-4, 0.5, 0.999); NEpochs and
	// NEpochsDecay: the linear policy (CUT 200/200, FastCUT 150/50).
	LR, Beta1, Beta2      float64
	NEpochs, NEpochsDecay int64
	// Seed draws the weights, the flips and the patch positions.
	Seed uint64
}

// CUTConfig is --CUT_mode CUT: λ_NCE 1 with the identity term.
func CUTConfig() Config {
	return Config{G: DefaultGenerator(), D: DefaultDiscriminator(), LambdaGAN: 1, LambdaNCE: 1, NCEIdt: true,
		NCELayers: []int{0, 4, 8, 12, 16}, NumPatches: 256, NCET: 0.07,
		LR: 2e-4, Beta1: 0.5, Beta2: 0.999, NEpochs: 200, NEpochsDecay: 200, Seed: 1}
}

// FastCUTConfig is --CUT_mode FastCUT: λ_NCE 10, no identity term,
// flip-equivariance, 150 + 50 epochs.
func FastCUTConfig() Config {
	c := CUTConfig()
	c.LambdaNCE, c.NCEIdt, c.FlipEquivariance, c.NEpochs, c.NEpochsDecay = 10, false, true, 150, 50
	return c
}

// MethodConfig is the PatchNCE method's config for c.
func (c *Config) MethodConfig() method.Params {
	layers := make([]string, len(c.NCELayers))
	for i, l := range c.NCELayers {
		layers[i] = strconv.Itoa(l)
	}
	return method.Params{
		"lambda_NCE": c.LambdaNCE, "nce_idt": c.NCEIdt, "nce_layers": strings.Join(layers, ","),
		"num_patches": float64(c.NumPatches), "nce_T": c.NCET, "lr": c.LR, "beta1": c.Beta1, "beta2": c.Beta2,
		"n_epochs": float64(c.NEpochs), "n_epochs_decay": float64(c.NEpochsDecay),
	}
}

// lrFactor is the linear policy during 0-based epoch e.
func (c *Config) lrFactor(e int64) float64 {
	return 1 - float64(max(0, e+1-c.NEpochs))/float64(c.NEpochsDecay+1)
}

// Model is CUT: the generator, the discriminator, their Adams, and the
// PatchNCE method (in process or a plugin) that owns the patch MLPs.
type Model struct {
	Cfg        Config
	G          *Generator
	D          *Discriminator
	optG, optD optim.Optimizer
	dParams    []*ts.Tensor // D's trainable tensors, frozen in G's step
	nce        method.Method
	spec       method.Spec
	rng        *rand.Rand
	rngSrc     *rand.PCG
	perEpoch   int64 // steps per epoch (0: the policy stays at epoch 0)
	dev        gotch.Device
}

// New builds the networks on dev and sets up nce (the patchnce method,
// which the model then owns) for images of side size; samples is the
// training set's size (max of the two domains', as UnalignedDataset) and
// batch the images of a step, which set the epochs of the lr policy.
func New(ctx context.Context, cfg Config, nce method.Method, dev gotch.Device, size, samples, batch int64) (*Model, error) {
	if cfg.NumPatches <= 0 || len(cfg.NCELayers) == 0 || batch <= 0 {
		return nil, errors.New("translate: want NCE layers, patches > 0 and a batch > 0")
	}
	src := rand.NewPCG(cfg.Seed, 0xc07)
	rng := rand.New(src)
	m := &Model{Cfg: cfg, nce: nce, rng: rng, rngSrc: src, dev: dev}
	if samples >= batch {
		m.perEpoch = samples / batch
	}
	var err error
	if m.G, err = NewGenerator(cfg.G, dev, rng); err != nil {
		return nil, err
	}
	if m.D, err = NewDiscriminator(cfg.D, dev, rng); err != nil {
		m.G.Close()
		return nil, err
	}
	adam := optim.Config{Name: "adam", LR: cfg.LR, Beta1: cfg.Beta1, Beta2: cfg.Beta2}
	dps := optim.Params(m.D.VS)
	for _, p := range dps {
		m.dParams = append(m.dParams, p.T)
	}
	if m.optG, err = optim.New(adam, optim.Params(m.G.VS)); err == nil {
		m.optD, err = optim.New(adam, dps)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	dims, err := m.featureDims(size)
	if err != nil {
		m.Close()
		return nil, err
	}
	if _, err := nce.Setup(ctx, method.SetupRequest{FeatureDims: dims, Config: cfg.MethodConfig(), NumSamples: samples,
		TotalSteps: m.perEpoch * (cfg.NEpochs + cfg.NEpochsDecay), Device: tensor.DeviceName(dev), Seed: int64(cfg.Seed)}); err != nil {
		m.Close()
		return nil, fmt.Errorf("translate: set up the PatchNCE method: %w", err)
	}
	m.spec = nce.Spec()
	return m, nil
}

// featureDims runs the encoder once on a blank image of side size for the
// channels of each NCE layer, checking every map holds NumPatches
// positions.
func (m *Model) featureDims(size int64) (map[string][]int64, error) {
	out := map[string][]int64{}
	var err error
	tensor.NoGrad(func() {
		x := ts.MustZeros([]int64{1, m.Cfg.G.In, size, size}, gotch.Float, m.dev)
		defer x.MustDrop()
		var feats []*ts.Tensor
		if feats, err = m.G.Encode(x, m.Cfg.NCELayers); err != nil {
			return
		}
		for i, f := range feats {
			sz := f.MustSize()
			f.MustDrop()
			if hw := sz[2] * sz[3]; hw < int64(m.Cfg.NumPatches) && err == nil {
				err = fmt.Errorf("translate: layer %d of %d×%d images has %d positions, fewer than num_patches %d: use larger crops or fewer patches", m.Cfg.NCELayers[i], size, size, hw, m.Cfg.NumPatches)
			}
			for _, tap := range []string{"nce", "nce_idt"} {
				out[tap+"."+strconv.Itoa(m.Cfg.NCELayers[i])] = []int64{sz[1]}
			}
		}
	})
	return out, err
}

// Stats are one step's losses, as the official model names them.
type Stats struct {
	D, DReal, DFake, GGAN, NCE, NCEY, G float64
	LR                                  float64
}

// Step is one CUTModel.optimize_parameters on real images a from domain A
// and b from domain B ([N, C, H, W] in [−1, 1]): the discriminator's LSGAN
// step on G(a) and b, then the generator's on λ_GAN·LSGAN(D(G(a)), 1) plus
// the PatchNCE method's loss, whose gradient for the query patches the
// method returns and the generator back-propagates; the method steps its
// MLPs itself. step is the 0-based iteration (it sets the lr policy's
// epoch).
func (m *Model) Step(ctx context.Context, a, b *ts.Tensor, step int64) (Stats, error) {
	defer nn.Autograd()()
	var st Stats
	epoch := int64(0)
	if m.perEpoch > 0 {
		epoch = step / m.perEpoch
	}
	st.LR = m.Cfg.LR * m.Cfg.lrFactor(epoch)
	m.optG.SetLR(st.LR)
	m.optD.SetLR(st.LR)
	s := tensor.NewScope()
	defer s.Close()
	n := a.MustSize()[0]
	real := a
	if m.Cfg.NCEIdt {
		real = s.T(ts.MustCat([]*ts.Tensor{a, b}, 0))
	}
	flipped := m.Cfg.FlipEquivariance && m.rng.Float64() < 0.5
	if flipped {
		real = s.T(real.MustFlip([]int64{3}, false))
	}
	fake := s.T(m.G.Forward(real))
	fakeB := s.T(fake.MustNarrow(0, 0, n, false))

	// discriminator
	lsgan := func(x *ts.Tensor, target float64) *ts.Tensor {
		pred := s.T(m.D.Forward(x))
		t := s.T(s.T(pred.MustOnesLike(false)).MustMulScalar(ts.FloatScalar(target), false))
		return s.T(pred.MustMseLoss(t, 1, false))
	}
	dFake := lsgan(s.T(fakeB.MustDetach(false)), 0)
	dReal := lsgan(b, 1)
	lossD := s.T(s.T(dFake.MustAdd(dReal, false)).MustMulScalar(ts.FloatScalar(0.5), false))
	m.optD.ZeroGrad()
	if err := lossD.Backward(); err != nil {
		return st, fmt.Errorf("translate: discriminator backward: %w", err)
	}
	if err := m.optD.Step(); err != nil {
		return st, err
	}
	st.D, st.DReal, st.DFake = nn.Item(lossD), nn.Item(dReal), nn.Item(dFake)

	// generator, D frozen (set_requires_grad(netD, False))
	if err := nn.SetRequiresGrad(m.dParams, false); err != nil {
		return st, err
	}
	defer nn.SetRequiresGrad(m.dParams, true)
	m.optG.ZeroGrad()
	gan := s.T(lsgan(fakeB, 1).MustMulScalar(ts.FloatScalar(m.Cfg.LambdaGAN), false))
	pairs := [][2]*ts.Tensor{{fakeB, a}}
	if m.Cfg.NCEIdt {
		pairs = append(pairs, [2]*ts.Tensor{s.T(fake.MustNarrow(0, n, n, false)), b})
	}
	req, online, err := m.nceRequest(s, pairs, flipped, step)
	if err != nil {
		return st, err
	}
	resp, err := m.nce.Step(ctx, req)
	if err != nil {
		return st, fmt.Errorf("translate: PatchNCE step: %w", err)
	}
	defer resp.Grads.Drop()
	// λ_GAN·GAN + Σ q·(∂NCE/∂q): its gradient is the official loss_G's
	total := gan
	for _, key := range slices.Sorted(maps.Keys(online)) { // one order, one rounding
		q := online[key]
		g, ok := resp.Grads[key]
		if !ok {
			return st, fmt.Errorf("translate: the PatchNCE method returned no gradient for %s", key)
		}
		total = s.T(total.MustAdd(s.T(s.T(q.MustMul(g, false)).MustSum(gotch.Float, false)), false))
	}
	if err := total.Backward(); err != nil {
		return st, fmt.Errorf("translate: generator backward: %w", err)
	}
	if err := m.optG.Step(); err != nil {
		return st, err
	}
	st.GGAN, st.NCE = nn.Item(gan), resp.Metrics["nce"]
	st.NCEY = resp.Metrics["nce_idt"]
	st.G = st.GGAN + resp.Loss
	return st, nil
}

// nceRequest samples, per tap (one per pair: "nce" for G(a) against a,
// "nce_idt" for G(b) against b) and per NCE layer, NumPatches positions
// (PatchSampleF: a random permutation's first P, the same for every image
// of the batch) and gathers every view's patches there: the query views'
// from the generator's encoder on the translation, in the graph (flipped
// back under flip-equivariance), the key views' from it on the source,
// without gradient. It returns the request and the online features with
// their graph, by key.
func (m *Model) nceRequest(s *tensor.Scope, pairs [][2]*ts.Tensor, flipped bool, step int64) (method.StepRequest, map[string]*ts.Tensor, error) {
	req := method.StepRequest{Step: step, Train: true, Features: method.Tensors{}}
	online := map[string]*ts.Tensor{}
	views := [][2]string{{"fake", "real"}, {"idt", "real_b"}}
	taps := []string{"nce", "nce_idt"}
	type enc struct{ q, k []*ts.Tensor }
	encs := make([]enc, len(pairs))
	for i, p := range pairs {
		q, err := m.G.Encode(p[0], m.Cfg.NCELayers)
		if err != nil {
			return req, nil, err
		}
		for j := range q {
			s.T(q[j])
			if flipped {
				q[j] = s.T(q[j].MustFlip([]int64{3}, false))
			}
			q[j] = s.T(flattenMap(q[j])) // once per map: every tap picks from it
		}
		var k []*ts.Tensor
		tensor.NoGrad(func() { k, err = m.G.Encode(p[1], m.Cfg.NCELayers) })
		if err != nil {
			return req, nil, err
		}
		for j := range k {
			s.T(k[j])
			k[j] = s.T(flattenMap(k[j]))
		}
		encs[i] = enc{q, k}
	}
	for t := range pairs { // one tap per pair, positions of its own
		for li, layer := range m.Cfg.NCELayers {
			positions := encs[0].q[li].MustSize()[1]
			perm := m.rng.Perm(int(positions))[:m.Cfg.NumPatches]
			pos := make([]int64, len(perm))
			for i, v := range perm {
				pos[i] = int64(v)
			}
			ids := s.T(must(tensor.FromInt64(pos, int64(len(pos)))))
			if m.dev != gotch.CPU {
				ids = s.T(ids.MustTo(m.dev, false))
			}
			key := taps[t] + "." + strconv.Itoa(layer)
			for i := range pairs { // every view carries every tap
				q := s.T(pickPatches(encs[i].q[li], ids))
				online[method.FeatureKey(views[i][0], key, false)] = q
				req.Features[method.FeatureKey(views[i][0], key, false)] = s.T(q.MustDetach(false))
				req.Features[method.FeatureKey(views[i][1], key, true)] = s.T(pickPatches(encs[i].k[li], ids))
			}
		}
	}
	return req, online, nil
}

// gatherPatches takes feat [N, C, H, W] at flat positions ids: [N·P, C],
// image-major (feat.permute(0, 2, 3, 1).flatten(1, 2)[:, ids].flatten(0,
// 1)). The caller owns the result.
func gatherPatches(feat, ids *ts.Tensor) *ts.Tensor {
	flat := flattenMap(feat)
	defer flat.MustDrop()
	return pickPatches(flat, ids)
}

// flattenMap is feat [N, C, H, W] as [N, H·W, C] (a copy in that order).
func flattenMap(feat *ts.Tensor) *ts.Tensor {
	sz := feat.MustSize()
	p := feat.MustPermute([]int64{0, 2, 3, 1}, false)
	defer p.MustDrop()
	return p.MustReshape([]int64{sz[0], sz[2] * sz[3], sz[1]}, false)
}

// pickPatches takes a flattened map [N, H·W, C] at positions ids:
// [N·P, C], image-major.
func pickPatches(flat, ids *ts.Tensor) *ts.Tensor {
	picked := flat.MustIndexSelect(1, ids, false)
	defer picked.MustDrop()
	return picked.MustReshape([]int64{-1, flat.MustSize()[2]}, false)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Close frees the networks, optimizers and the method.
func (m *Model) Close() {
	for _, o := range []optim.Optimizer{m.optG, m.optD} {
		if o != nil {
			o.Close()
		}
	}
	if m.G != nil {
		m.G.Close()
	}
	if m.D != nil {
		m.D.Close()
	}
	if m.nce != nil {
		m.nce.Close()
	}
}
