// Package pretext is the pretext-task method family (section 1 of the
// survey): tasks whose labels the augmenter makes for free. It starts with
// RotNet's rotation prediction (Gidaris, Singh, Komodakis, ICLR 2018).
// Import it to run the methods in process, or serve them with the plugin
// binary in cmd/selfsup-pretext.
package pretext

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// RotationName is the rotation-prediction method id.
const RotationName = "rotation"

// rotationViews are the four copies of every image, turned by 0°, 90°,
// 180° and 270° (the augmenter's fixed-rotation recipes); a view's index is
// its label.
var rotationViews = []string{"rot0", "rot90", "rot180", "rot270"}

// RotationConfig is the 4-way head's training.
type RotationConfig struct {
	LR          float64 `param:"lr" default:"1e-3" doc:"Adam learning rate of the rotation classifier"`
	WeightDecay float64 `param:"weight_decay" default:"1e-6" doc:"L2 weight decay of the classifier"`
	InitStd     float64 `param:"init_std" default:"0.01" doc:"standard deviation of the classifier's normal init (bias 0)"`
}

// Validate checks the config.
func (c *RotationConfig) Validate() error {
	if c.LR <= 0 || c.InitStd <= 0 {
		return errors.New("lr and init_std must be positive")
	}
	return nil
}

// Rotation is RotNet's pretext task as the open implementations run it on a
// pooled trunk (mmselfsup's RotationPred): every image of the batch in all
// four rotations, the 4N images through the trunk as one batch, a linear
// classifier of the rotation on the pooled features, cross-entropy. (The
// paper's CIFAR NIN puts conv blocks in the classifier; on a pooled trunk
// the classifier is linear.)
var Rotation = methodkit.Def[RotationConfig]{
	Name: RotationName, Summary: "RotNet: predict which of four rotations each image went through",
	Spec: func(*RotationConfig) method.Spec {
		views := make([]method.View, len(rotationViews))
		for i, v := range rotationViews {
			views[i] = method.View{Name: v, Recipe: fmt.Sprintf("rotation-%d", 90*i), Online: true}
		}
		return method.Spec{Views: views, Pass: method.Together} // img.view(B*4, C, H, W)
	},
	Build: func(h *methodkit.Heads, c *RotationConfig) (methodkit.Stepper, error) {
		if h.Dim <= 0 {
			return nil, errors.New("rotation needs the trunk's pooled features")
		}
		w, err := nn.Normal(h.Rng, h.Dev, 4, h.Dim)
		if err != nil {
			return nil, err
		}
		p := h.Sub("head").Sub("fc")
		head := &nn.Linear{}
		if head.W, err = nn.AddParam(p, "weight", w.MustMulScalar(ts.FloatScalar(c.InitStd), true)); err != nil {
			return nil, err
		}
		b, err := nn.Filled(0, h.Dev, 4)
		if err != nil {
			return nil, err
		}
		if head.B, err = nn.AddParam(p, "bias", b); err != nil {
			return nil, err
		}
		return &rotationStep{head: head}, h.Adam(c.LR, c.WeightDecay)
	},
	MinBatch: 1,
}

type rotationStep struct{ head *nn.Linear }

type linearHead struct{ l *nn.Linear }

func (h linearHead) Forward(x *ts.Tensor, _ bool) *ts.Tensor { return h.l.Forward(x) }

// Forward is the classifier on the four views' features (one batch) and
// the cross-entropy against each view's rotation.
func (m *rotationStep) Forward(s *methodkit.Step) (*ts.Tensor, error) {
	logits := s.Together(linearHead{m.head}, rotationViews...)
	all := s.T(ts.MustCat(logits, 0))
	labels := make([]int64, 0, 4*s.N)
	for k := range rotationViews {
		for range s.N {
			labels = append(labels, int64(k))
		}
	}
	target, err := tensor.FromInt64(labels, int64(len(labels)))
	if err != nil {
		return nil, err
	}
	target = s.T(target.MustTo(all.MustDevice(), true))
	loss := s.T(nn.CrossEntropy(all, target))
	pred := s.T(all.MustArgmax([]int64{1}, false, false))
	acc := s.T(s.T(s.T(pred.MustEqTensor(target, false)).MustTotype(gotch.Float, false)).MustMean(gotch.Float, false))
	s.Metric("accuracy", nn.Item(acc))
	return loss, nil
}

// NewRotation returns a rotation method that still needs Setup.
func NewRotation() *methodkit.Method[RotationConfig] { return methodkit.New(Rotation) }

// Constructors lists the family's methods (for plugin.Serve and the
// registry).
func Constructors() []method.Constructor {
	return []method.Constructor{methodkit.Constructor(Rotation)}
}
