package envs

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/envs/render"
)

// issueTasks are the tasks the RL runner and the CURL tables need.
var issueTasks = []string{
	"cartpole-swingup", "cartpole-balance", "pendulum-swingup",
	"reacher-easy", "reacher-hard", "point-mass-easy", "ball-in-cup-catch",
}

func TestRegistryListsTasks(t *testing.T) {
	ids := List()
	for _, want := range issueTasks {
		if !slices.Contains(ids, want) {
			t.Errorf("List() = %v, missing %q", ids, want)
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("List() = %v, not sorted", ids)
	}
}

func TestMakeAcceptsDmControlNames(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cartpole-swingup", "cartpole-swingup"},
		{"ball_in_cup-catch", "ball-in-cup-catch"},
		{"ball_in_cup/catch", "ball-in-cup-catch"},
		{" Point_Mass-Easy ", "point-mass-easy"},
	}
	for _, tc := range tests {
		e, err := Make(tc.in)
		if err != nil {
			t.Fatalf("Make(%q): %v", tc.in, err)
		}
		if got := e.Spec().ID; got != tc.want {
			t.Errorf("Make(%q).Spec().ID = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMakeErrors(t *testing.T) {
	tests := []struct {
		name, id string
		opts     []Option
		want     string
	}{
		{"unknown name", "cartpole-fly", nil, "unknown environment"},
		{"one pixel side", "cartpole-swingup", []Option{WithPixels(84, 0)}, "pixel size"},
		{"negative pixels", "cartpole-swingup", []Option{WithPixels(-1, -1)}, "pixel size"},
		{"no observations", "cartpole-swingup", []Option{WithState(false)}, "no observations"},
		{"bad render size", "cartpole-swingup", []Option{WithRenderSize(0, 10)}, "render size"},
		{"bad time limit", "cartpole-swingup", []Option{WithMaxEpisodeSteps(-2)}, "max episode steps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Make(tc.id, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Make(%q) error = %v, want one containing %q", tc.id, err, tc.want)
			}
		})
	}
}

func TestRegistryRegister(t *testing.T) {
	r := NewRegistry()
	f := func(c Config) (Env, error) { return newTaskEnv(newPendulum(), c), nil }
	if err := r.Register("my-pendulum", Spec{Description: "mine"}, f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("my-pendulum", Spec{}, f); err == nil {
		t.Error("registering a name twice succeeded")
	}
	if _, err := r.Make("my_pendulum"); err != nil {
		t.Errorf("Make of a registered env: %v", err)
	}
	if slices.Contains(List(), "my-pendulum") {
		t.Error("registering in one registry changed the package's list")
	}
}

func TestSpecsAndSpaces(t *testing.T) {
	tests := []struct {
		id            string
		actions       int
		state         int
		controlDt     float64
		episodeSecond float64
	}{
		{"cartpole-swingup", 1, 5, 0.01, 10},
		{"cartpole-balance", 1, 5, 0.01, 10},
		{"pendulum-swingup", 1, 3, 0.02, 20},
		{"reacher-easy", 2, 6, 0.02, 20},
		{"reacher-hard", 2, 6, 0.02, 20},
		{"point-mass-easy", 2, 4, 0.02, 20},
		{"ball-in-cup-catch", 2, 8, 0.02, 20},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			e, err := Make(tc.id, WithPixels(100, 84))
			if err != nil {
				t.Fatal(err)
			}
			s := e.Spec()
			if s.MaxEpisodeSteps != 1000 {
				t.Errorf("MaxEpisodeSteps = %d, want 1000", s.MaxEpisodeSteps)
			}
			if math.Abs(float64(s.MaxEpisodeSteps)*s.ControlDt-tc.episodeSecond) > 1e-9 {
				t.Errorf("episode lasts %v s, want %v s", float64(s.MaxEpisodeSteps)*s.ControlDt, tc.episodeSecond)
			}
			if s.ControlDt != tc.controlDt {
				t.Errorf("ControlDt = %v, want %v", s.ControlDt, tc.controlDt)
			}
			as := e.ActionSpace()
			if as.Size() != tc.actions || as.Low[0] != -1 || as.High[0] != 1 {
				t.Errorf("ActionSpace() = %v, want %d actions in [-1, 1]", as, tc.actions)
			}
			os := e.ObservationSpace()
			if os.State.Size() != tc.state {
				t.Errorf("state size = %d, want %d", os.State.Size(), tc.state)
			}
			if !slices.Equal(os.Pixels.Shape, []int{3, 84, 100}) || os.Pixels.DType != Uint8 {
				t.Errorf("pixel space = %v, want Box(0, 255, [3 84 100], uint8)", os.Pixels)
			}
			seed := int64(0)
			o, _ := e.Reset(&seed)
			if len(o.State) != tc.state || len(o.Pixels) != 3*84*100 {
				t.Errorf("Reset gave %d state values and %d pixels, want %d and %d", len(o.State), len(o.Pixels), tc.state, 3*84*100)
			}
			n := 0
			for _, k := range s.StateKeys {
				n += k.Size
			}
			if n != tc.state {
				t.Errorf("StateKeys add up to %d, want %d", n, tc.state)
			}
		})
	}
}

// rollout runs an episode prefix with seeded random actions and returns
// everything the agent sees.
func rollout(t *testing.T, e Env, seed int64, steps int) (obs []Obs, rewards []float64) {
	t.Helper()
	o, _ := e.Reset(&seed)
	obs = append(obs, o)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	for range steps {
		o, r, _, _, _ := e.Step(e.ActionSpace().Sample(rng))
		obs = append(obs, o)
		rewards = append(rewards, r)
	}
	return obs, rewards
}

func sameObs(a, b []Obs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Pixels, b[i].Pixels) || len(a[i].State) != len(b[i].State) {
			return false
		}
		for j := range a[i].State {
			if math.Float64bits(a[i].State[j]) != math.Float64bits(b[i].State[j]) {
				return false
			}
		}
	}
	return true
}

func sameRewards(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

func TestDeterminism(t *testing.T) {
	for _, id := range List() {
		for _, st := range render.Styles() {
			t.Run(id+"/"+st.String(), func(t *testing.T) {
				mk := func() Env {
					e, err := Make(id, WithPixels(48, 48), WithStyle(st))
					if err != nil {
						t.Fatal(err)
					}
					return e
				}
				o1, r1 := rollout(t, mk(), 42, 120)
				o2, r2 := rollout(t, mk(), 42, 120)
				if !sameObs(o1, o2) || !sameRewards(r1, r2) {
					t.Fatal("two environments with the same seed differ")
				}
				o3, _ := rollout(t, mk(), 43, 120)
				if sameObs(o1, o3) {
					t.Error("different seeds gave the same episode")
				}
			})
		}
	}
}

func TestResetSeeding(t *testing.T) {
	for _, id := range List() {
		t.Run(id, func(t *testing.T) {
			e, err := Make(id)
			if err != nil {
				t.Fatal(err)
			}
			seed := int64(5)
			a, info := e.Reset(&seed)
			if info["seed"] != seed {
				t.Errorf("Reset info seed = %v, want %d", info["seed"], seed)
			}
			b, _ := e.Reset(nil) // continues the stream: a new episode
			seed2 := int64(5)
			c, _ := e.Reset(&seed2) // re-seeds: the first episode again
			d, _ := e.Reset(nil)
			if sameObs([]Obs{a}, []Obs{b}) {
				t.Error("Reset(nil) repeated the previous initial state")
			}
			if !sameObs([]Obs{a, b}, []Obs{c, d}) {
				t.Error("re-seeding did not repeat the stream of initial states")
			}
			f, _ := Make(id)
			_, info = f.Reset(nil)
			if _, ok := info["seed"].(int64); !ok {
				t.Errorf("unseeded Reset info = %v, want a seed", info)
			}
		})
	}
}

func TestEpisodeTruncatesAtTimeLimit(t *testing.T) {
	e, err := Make("pendulum-swingup", WithMaxEpisodeSteps(5))
	if err != nil {
		t.Fatal(err)
	}
	e.Reset(nil)
	for i := 1; i <= 5; i++ {
		_, _, term, trunc, _ := e.Step([]float64{0})
		if term {
			t.Fatal("dm_control tasks never terminate")
		}
		if trunc != (i == 5) {
			t.Fatalf("step %d: truncated = %v", i, trunc)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Step after the end of an episode did not panic")
		}
	}()
	e.Step([]float64{0})
}

func TestStepPanicsOnWrongActionLength(t *testing.T) {
	e, _ := Make("reacher-easy")
	e.Reset(nil)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "needs 2") {
			t.Errorf("panic = %v, want one naming the action size", r)
		}
	}()
	e.Step([]float64{0})
}

func TestActionsAreClipped(t *testing.T) {
	mk := func() Env { e, _ := Make("cartpole-swingup"); return e }
	a, b := mk(), mk()
	seed := int64(3)
	a.Reset(&seed)
	b.Reset(&seed)
	for range 20 {
		oa, ra, _, _, _ := a.Step([]float64{7})
		ob, rb, _, _, _ := b.Step([]float64{1})
		if !sameObs([]Obs{oa}, []Obs{ob}) || ra != rb {
			t.Fatal("action 7 did not act as 1")
		}
	}
}
