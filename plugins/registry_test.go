package plugins

import (
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
)

// TestOfficialTrunkPasses: every built-in method declares how its views go
// through the trunk as its official code does (method.Spec.Pass), and MoCo
// v1/v2 asks for Shuffle-BN (8 BatchNorm splits, shuffled keys).
func TestOfficialTrunkPasses(t *testing.T) {
	want := map[string]method.Pass{
		// one batch of all views of a shape
		"simclr": method.Together, "simclrv2": method.Together, "invaspread": method.Together,
		"swav": method.Together, "dino": method.Together, "align_uniform": method.Together,
		"flatnce": method.Together, "infonce": method.Together, "nce": method.Together,
		"rotation": method.Together, // RotationPred: the four rotations as one batch
		// each view on its own
		"moco": method.EachView, "mocov3": method.EachView, "curl": method.EachView,
		"byol": method.EachView, "simsiam": method.EachView, "barlowtwins": method.EachView,
		"debiased": method.EachView, "hardneg": method.EachView, "pixpro": method.EachView,
		// CUT encodes the source and the translation in separate generator passes
		"patchnce": method.EachView,
	}
	names := map[string]bool{}
	for _, n := range Names() {
		names[n] = true
	}
	for n := range want {
		if !names[n] {
			t.Errorf("no built-in method %q", n)
		}
	}
	for _, name := range Names() {
		m, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		s := m.Spec()
		m.Close()
		got := s.Pass
		if got == "" {
			got = method.EachView
		}
		if w, ok := want[name]; ok && got != w {
			t.Errorf("%s: pass %q, want %q (its official code)", name, got, w)
		}
		if name == "moco" && (s.BatchNormSplits != 8 || s.Target == nil || !s.Target.Shuffle) {
			t.Errorf("moco: %d BatchNorm splits, target %+v; want 8 splits and shuffled keys (Shuffle-BN)", s.BatchNormSplits, s.Target)
		}
	}
}
