package encoder

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/tensor"
)

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func TestNames(t *testing.T) {
	want := []string{ConvNetS, ResNet18, ResNet18CIFAR, ResNet50}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	_, err := New("vit-b", 3, gotch.CPU)
	if err == nil {
		t.Fatal("New(vit-b): want an error")
	}
	for _, n := range want {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %s", err, n)
		}
	}
	if _, err := New(ConvNetS, 0, gotch.CPU); err == nil {
		t.Error("New with 0 channels: want an error")
	}
}

func TestShapes(t *testing.T) {
	inputs := []struct{ c, h int64 }{{1, 28}, {3, 32}}
	cases := []struct {
		name   string
		dim    int64
		layers []Layer
	}{
		{ConvNetS, 128, []Layer{{"block1", 32, 1}, {"block2", 64, 2}, {"block3", 64, 2}, {"block4", 128, 4}, {"block5", 128, 4}}},
		{ResNet18CIFAR, 512, []Layer{{"stem", 64, 1}, {"layer1", 64, 1}, {"layer2", 128, 2}, {"layer3", 256, 4}, {"layer4", 512, 8}}},
		{ResNet18, 512, []Layer{{"stem", 64, 4}, {"layer1", 64, 4}, {"layer2", 128, 8}, {"layer3", 256, 16}, {"layer4", 512, 32}}},
		{ResNet50, 2048, []Layer{{"stem", 64, 4}, {"layer1", 256, 4}, {"layer2", 512, 8}, {"layer3", 1024, 16}, {"layer4", 2048, 32}}},
	}
	const n = 2
	for _, c := range cases {
		for _, in := range inputs {
			t.Run(fmt.Sprintf("%s/%dx%dx%d", c.name, in.c, in.h, in.h), func(t *testing.T) {
				enc := newEnc(t, c.name, in.c)
				if enc.Name() != c.name || enc.Dim() != c.dim {
					t.Errorf("Name, Dim = %s, %d; want %s, %d", enc.Name(), enc.Dim(), c.name, c.dim)
				}
				if got := enc.Layers(); !slices.Equal(got, c.layers) {
					t.Errorf("Layers() = %v, want %v", got, c.layers)
				}
				x := wave(t, n, in.c, in.h, in.h)
				defer x.MustDrop()
				names := make([]string, len(c.layers))
				for i, l := range c.layers {
					names[i] = l.Name
				}
				for _, train := range []bool{true, false} {
					out, err := enc.Forward(x, train, names...)
					if err != nil {
						t.Fatal(err)
					}
					if got := out[Pooled].MustSize(); !slices.Equal(got, []int64{n, c.dim}) {
						t.Errorf("pooled %v, want [%d %d]", got, n, c.dim)
					}
					for _, l := range c.layers {
						s := ceilDiv(in.h, l.Stride)
						want := []int64{n, l.Channels, s, s}
						if got := out[l.Name].MustSize(); !slices.Equal(got, want) {
							t.Errorf("train=%v %s: %v, want %v", train, l.Name, got, want)
						}
					}
					if len(out) != len(c.layers)+1 {
						t.Errorf("Forward returned %v", out.Names())
					}
					out.Drop()
				}
			})
		}
	}
}

func TestForwardErrors(t *testing.T) {
	enc := newEnc(t, ConvNetS, 1)
	rgb := wave(t, 2, 3, 28, 28)
	defer rgb.MustDrop()
	gray := wave(t, 2, 1, 28, 28)
	defer gray.MustDrop()
	gray64 := gray.MustTotype(gotch.Double, false)
	defer gray64.MustDrop()
	cases := []struct {
		name   string
		run    func() error
		substr string
	}{
		{"channels", func() error { _, err := enc.Forward(rgb, true); return err }, "[N, 1, H, W]"},
		{"layer", func() error { _, err := enc.Forward(gray, true, "layer9"); return err }, "block5"},
		{"dtype", func() error { _, err := enc.Forward(gray64, true); return err }, "float32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %v, want one mentioning %q", err, c.substr)
			}
		})
	}
}

// TestParameterCounts checks trainable parameter counts against torchvision
// (resnet18 11,689,512 and resnet50 25,557,032 with their 1000-way fc of
// 513,000 and 2,049,000) and the hand count of convnet-s:
// convs 9·(1·32 + 32·64 + 64·64 + 64·128 + 128·128) = 276,768, BN weight and
// bias 2·(32+64+64+128+128) = 832, total 277,600. Entries are state_dict
// keys (torchvision: 122 and 320 with fc.weight and fc.bias).
func TestParameterCounts(t *testing.T) {
	cases := []struct {
		name    string
		in      int64
		params  int64
		entries int
	}{
		{ConvNetS, 1, 277_600, 30},
		{ConvNetS, 3, 277_600 + 2*32*9, 30},
		{ResNet18, 3, 11_176_512, 120},
		{ResNet18CIFAR, 3, 11_176_512 - 64*3*(49-9), 120},
		{ResNet50, 3, 23_508_032, 318},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := newEnc(t, c.name, c.in)
			var n int64
			for _, p := range enc.VarStore().TrainableVariables() {
				n += tensor.Numel(p.MustSize())
			}
			if n != c.params {
				t.Errorf("%d trainable parameters, want %d", n, c.params)
			}
			if got := enc.VarStore().Len(); got != c.entries {
				t.Errorf("%d variables, want %d state_dict entries", got, c.entries)
			}
		})
	}
}

func TestStateDictNames(t *testing.T) {
	cases := []struct {
		name string
		want []string
	}{
		{ConvNetS, []string{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "12.weight", "13.num_batches_tracked"}},
		{ResNet18, []string{"conv1.weight", "bn1.running_var", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias"}},
		{ResNet50, []string{"layer1.0.downsample.0.weight", "layer1.2.conv3.weight", "layer3.5.bn3.running_mean", "layer4.2.bn3.weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vars := newEnc(t, c.name, 3).VarStore().Variables()
			for _, n := range c.want {
				if _, ok := vars[n]; !ok {
					t.Errorf("no variable %q", n)
				}
			}
			for n := range vars {
				if strings.Contains(n, "fc.") || strings.Contains(n, "__") {
					t.Errorf("unexpected variable %q", n)
				}
			}
			if nbt := vars[c.want[len(c.want)-1]]; strings.HasSuffix(c.want[len(c.want)-1], "num_batches_tracked") {
				if nbt.DType() != gotch.Int64 || len(nbt.MustSize()) != 0 {
					t.Errorf("num_batches_tracked is %v %v, want a 0-d int64", nbt.DType(), nbt.MustSize())
				}
			}
		})
	}
}

// TestInitialisation checks PyTorch's default init statistics: convnet-s
// conv weights U(-1/math.Sqrt(fan_in), 1/math.Sqrt(fan_in)), ResNet convs
// N(0, 2/fan_out), BN weight 1 and bias 0; and that a seed fixes them.
func TestInitialisation(t *testing.T) {
	cases := []struct {
		name, v  string
		in       int64
		fanIn    float64
		fanOut   float64
		uniform  bool
		constant float64
	}{
		{ConvNetS, "3.weight", 1, 32 * 9, 0, true, -1},
		{ResNet18, "layer3.0.conv2.weight", 3, 0, 256 * 9, false, -1},
		{ConvNetS, "4.weight", 1, 0, 0, false, 1},
		{ResNet18, "bn1.bias", 3, 0, 0, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.v, func(t *testing.T) {
			backend.ManualSeed(7)
			enc := newEnc(t, c.name, c.in)
			w := enc.VarStore().Variables()[c.v]
			v, err := tensor.Float32s(&w)
			if err != nil {
				t.Fatal(err)
			}
			var sum, sq, mx float64
			for _, x := range v {
				sum += float64(x)
				sq += float64(x) * float64(x)
				mx = max(mx, math.Abs(float64(x)))
			}
			n := float64(len(v))
			mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
			switch {
			case c.constant >= 0:
				if mx != c.constant && !(c.constant == 0 && mx == 0) {
					t.Errorf("max |v| %v, want constant %v", mx, c.constant)
				}
			case c.uniform:
				b := 1 / math.Sqrt(c.fanIn)
				if mx > b || mx < 0.97*b || math.Abs(std-b/math.Sqrt(3)) > 0.05*b {
					t.Errorf("max %v std %v, want U(-%v, %v)", mx, std, b, b)
				}
			default:
				want := math.Sqrt(2 / c.fanOut)
				if math.Abs(mean) > 0.02*want || math.Abs(std-want) > 0.02*want {
					t.Errorf("mean %v std %v, want N(0, %v²)", mean, std, want)
				}
			}
			backend.ManualSeed(7)
			again := newEnc(t, c.name, c.in)
			w2 := again.VarStore().Variables()[c.v]
			v2, _ := tensor.Float32s(&w2)
			if !slices.Equal(v, v2) {
				t.Error("same seed, different weights")
			}
		})
	}
}
