package pretext_test

import (
	"testing"

	"github.com/selfsup/selfsup/plugins/pretext"
	"github.com/selfsup/selfsup/sdk/conformance"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/methodkit"
)

func TestRotationStep(t *testing.T) {
	conformance.TestStep(t, methodkit.Constructor(pretext.Rotation), conformance.StepOptions{})
}

// TestRotationSpec: the four fixed rotations, each its own view of the
// augmenter's fixed-rotation recipes, through the trunk as one batch.
func TestRotationSpec(t *testing.T) {
	s := pretext.NewRotation().Spec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"rotation-0", "rotation-90", "rotation-180", "rotation-270"}
	if len(s.Views) != 4 || s.Pass != method.Together {
		t.Fatalf("spec %+v: want four views through the trunk together", s)
	}
	for i, v := range s.Views {
		if v.Recipe != want[i] || !v.Online {
			t.Errorf("view %d: %+v, want online recipe %s", i, v, want[i])
		}
	}
}
