// Package patchnce is the PatchNCE method family of CUT and FastCUT (Park,
// Efros, Zhang, Zhu, ECCV 2020; taesungp/contrastive-unpaired-translation):
// patches of the generator's encoder features on a translated image (the
// queries) are told apart from the other patches of the source image (the
// keys) by an InfoNCE over a per-layer MLP. The host (a translator) sends
// only the sampled patch features; the MLPs (PatchSampleF), their Adam and
// the loss live here. Import it to run PatchNCE in process, or serve it
// with the plugin binary in cmd/selfsup-patchnce.
package patchnce

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/optim"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// Name is the method id.
const Name = "patchnce"

// Views and taps of the Spec. The host sends, per NCE layer, the patches
// of the generator's encoder on G(x) ("fake", with gradient) and on x
// ("real", without), the same positions for both; with the identity term,
// the same for G(y) ("idt") and y ("real_b") at positions of their own
// (CUT draws new patch ids for each of calculate_NCE_loss's calls).
const (
	ViewFake, ViewReal, ViewIdt, ViewRealB = "fake", "real", "idt", "real_b"
	TapNCE, TapIdt                         = "nce", "nce_idt"
)

// Config is CUT's defaults (options/base_options.py, models/cut_model.py);
// FastCUT is lambda_NCE=10, nce_idt=false.
type Config struct {
	T            float64 `param:"nce_T" default:"0.07" doc:"temperature of the patch logits"`
	Lambda       float64 `param:"lambda_NCE" default:"1" doc:"weight of the NCE loss (CUT 1, FastCUT 10)"`
	Identity     bool    `param:"nce_idt" default:"true" doc:"add the identity term NCE(y, G(y)) and average the two (CUT; FastCUT: false)"`
	Layers       string  `param:"nce_layers" default:"0,4,8,12,16" doc:"the generator encoder's layers whose patches are compared, comma-separated"`
	Patches      int64   `param:"num_patches" default:"256" doc:"patches per layer and image"`
	NC           int64   `param:"netF_nc" default:"256" doc:"width of each layer's MLP"`
	UseMLP       bool    `param:"use_mlp" default:"true" doc:"project patches by a per-layer MLP Linear-ReLU-Linear (netF mlp_sample); false: only normalise them (netF sample)"`
	AllNegatives bool    `param:"nce_includes_all_negatives_from_minibatch" default:"false" doc:"negatives from every image of the batch, not only the query's own"`
	InitGain     float64 `param:"init_gain" default:"0.02" doc:"xavier-normal gain of the MLPs' weights"`
	LR           float64 `param:"lr" default:"2e-4" doc:"Adam learning rate of the MLPs"`
	Beta1        float64 `param:"beta1" default:"0.5" doc:"Adam beta1"`
	Beta2        float64 `param:"beta2" default:"0.999" doc:"Adam beta2"`
	NEpochs      int64   `param:"n_epochs" default:"200" doc:"epochs at the initial learning rate (the host's data set size and batch give the epoch)"`
	NEpochsDecay int64   `param:"n_epochs_decay" default:"200" doc:"epochs over which the learning rate then decays linearly to zero"`
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch {
	case c.T <= 0:
		return errors.New("nce_T must be positive")
	case c.Lambda <= 0:
		return errors.New("lambda_NCE must be positive (with 0 CUT trains no NCE: do not load the method)")
	case c.Patches <= 0 || c.NC <= 0:
		return fmt.Errorf("num_patches %d, netF_nc %d: want positive", c.Patches, c.NC)
	case c.NEpochs < 0 || c.NEpochsDecay < 0:
		return fmt.Errorf("n_epochs %d, n_epochs_decay %d: want ≥ 0", c.NEpochs, c.NEpochsDecay)
	}
	_, err := c.layers()
	return err
}

func (c *Config) layers() ([]string, error) {
	var out []string
	for _, l := range strings.Split(c.Layers, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nce_layers %q names no layer", c.Layers)
	}
	return out, nil
}

// LRFactor is CUT's 'linear' policy (networks.get_scheduler, epoch_count
// 1): 1 − max(0, e + 1 − n_epochs)/(n_epochs_decay + 1) during 0-based
// epoch e.
func (c *Config) LRFactor(epoch int64) float64 {
	return 1 - float64(max(0, epoch+1-c.NEpochs))/float64(c.NEpochsDecay+1)
}

// Def is PatchNCE for the method kit.
var Def = methodkit.Def[Config]{
	Name: Name, Summary: "PatchNCE (CUT/FastCUT): patch-wise InfoNCE between a translated image and its source, over per-layer MLPs",
	Spec: func(c *Config) method.Spec {
		layers, _ := c.layers()
		s := method.Spec{
			Views: []method.View{
				{Name: ViewFake, Recipe: "identity", Online: true},
				{Name: ViewReal, Recipe: "identity", Target: true},
			},
			// the keys come from the generator itself, without gradient: an
			// "EMA copy" of momentum 0 is the generator as it is
			Target: &method.Target{Momentum: 0},
			Taps:   []method.Tap{{Name: TapNCE, Kind: method.Patches, Layers: layers, Patches: int(c.Patches)}},
		}
		if c.Identity {
			s.Views = append(s.Views, method.View{Name: ViewIdt, Recipe: "identity", Online: true}, method.View{Name: ViewRealB, Recipe: "identity", Target: true})
			s.Taps = append(s.Taps, method.Tap{Name: TapIdt, Kind: method.Patches, Layers: layers, Patches: int(c.Patches)})
		}
		return s
	},
	Build: func(h *methodkit.Heads, c *Config) (methodkit.Stepper, error) {
		layers, err := c.layers()
		if err != nil {
			return nil, err
		}
		dims := make([]int64, len(layers))
		for i, l := range layers {
			d, ok := h.Dims[TapNCE+"."+l]
			if !ok || len(d) != 1 {
				return nil, fmt.Errorf("setup gave no patch feature size for layer %q (have %v): want [C]", l, h.Dims)
			}
			dims[i] = d[0]
		}
		smp, err := newSampler(h.Sub("netF"), h.Rng, dims, c.NC, c.InitGain, c.UseMLP)
		if err != nil {
			return nil, err
		}
		err = h.Optimize(optim.Config{Name: "adam", LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2}, true)
		return &step{c: *c, layers: layers, smp: smp}, err
	},
	Loss: &methodkit.Loss[Config]{Roles: []string{"feat_q", "feat_k"}, Fn: func(r method.Tensors, c *Config, p method.Params) (*ts.Tensor, error) {
		b, err := images(p)
		if err != nil {
			return nil, err
		}
		return Loss(r["feat_q"], r["feat_k"], b, c.T, c.AllNegatives)
	}, State: func(r method.Tensors, c *Config, p method.Params) (method.Tensors, error) {
		b, err := images(p)
		if err != nil {
			return nil, err
		}
		v, err := LossVector(r["feat_q"], r["feat_k"], b, c.T, c.AllNegatives)
		if err != nil {
			return nil, err
		}
		return method.Tensors{"loss_vector": v}, nil
	}},
	MinBatch: 1,
}

// images reads the conformance role params' batch_size (images, not
// patches).
func images(p method.Params) (int64, error) {
	switch v := p["batch_size"].(type) {
	case float64:
		return int64(v), nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	}
	return 0, fmt.Errorf("params.batch_size is %T, want the number of images", p["batch_size"])
}

type step struct {
	c      Config
	layers []string
	smp    *sampler
}

// Forward is CUTModel.calculate_NCE_loss for each pair (mean over the
// layers of λ·mean PatchNCE), averaged over the pairs when the identity
// term is on (compute_G_loss's (loss_NCE + loss_NCE_Y)·0.5).
func (m *step) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	loss, err := m.pair(s, ViewFake, ViewReal, TapNCE)
	if err != nil {
		return nil, err
	}
	s.Metric("nce", nn.Item(loss))
	if !m.c.Identity {
		return loss, nil
	}
	idt, err := m.pair(s, ViewIdt, ViewRealB, TapIdt)
	if err != nil {
		return nil, err
	}
	s.Metric("nce_idt", nn.Item(idt))
	return s.T(s.T(loss.MustAdd(idt, false)).MustMulScalar(ts.FloatScalar(0.5), false)), nil
}

// pair is one calculate_NCE_loss: queries from view q, keys from view k,
// the patches of tap.
func (m *step) pair(s *methodkit.Step, q, k, tap string) (*ts.Tensor, error) {
	var total *ts.Tensor
	for i, l := range m.layers {
		key := tap + "." + l
		fq := s.T(m.smp.project(i, s.OnlineTap(q, key)))
		var fk *ts.Tensor
		tensor.NoGrad(func() { fk = s.T(m.smp.project(i, s.TargetTap(k, key))) })
		li, err := Loss(fq, fk, s.N, m.c.T, m.c.AllNegatives)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		li = s.T(s.T(li).MustMulScalar(ts.FloatScalar(m.c.Lambda), false))
		if total == nil {
			total = li
		} else {
			total = s.T(total.MustAdd(li, false))
		}
	}
	return s.T(total.MustDivScalar(ts.FloatScalar(float64(len(m.layers))), false)), nil
}

// Update sets the MLPs' learning rate for the step's epoch, then steps
// Adam.
func (m *step) Update(s *methodkit.Step) error {
	f := m.c.LRFactor(s.Heads.Epoch(s.Index, s.N))
	s.Metric("lr", m.c.LR*f)
	for _, g := range s.Heads.Groups() {
		g.Opt.SetLR(m.c.LR * f)
	}
	return s.Heads.Update()
}

// New returns a PatchNCE method that still needs Setup (Loss works at once).
func New() *methodkit.Method[Config] { return methodkit.New(Def) }

// Constructor makes fresh PatchNCE methods; Constructors lists the family's
// methods (for plugin.Serve).
func Constructor() method.Constructor    { return methodkit.Constructor(Def) }
func Constructors() []method.Constructor { return []method.Constructor{Constructor()} }
