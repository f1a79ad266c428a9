package envs

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

func TestCartpoleRewards(t *testing.T) {
	tests := []struct {
		name          string
		sparse        bool
		x, th, thd, u float64
		want          float64
	}{
		{"upright, centred, still", false, 0, 0, 0, 0, 1},
		// upright (cos+1)/2 = 0.5; centred (1+0.1)/2; control (4+0)/5; velocity (1+0.1)/2
		{"horizontal at the margins", false, 2, math.Pi / 2, 5, 1, 0.5 * 0.55 * 0.8 * 0.55},
		{"hanging down", false, 0, math.Pi, 0, 0, 0},
		// centred: gaussian at half the margin is 0.1^(1/4)
		{"half a margin off centre", false, 1, 0, 0, 0.5, ((1 + math.Pow(0.1, 0.25)) / 2) * ((4 + 0.75) / 5)},
		{"sparse inside", true, 0.2, math.Acos(0.996), 3, 1, 1},
		{"sparse cart outside", true, 0.3, 0, 0, 0, 0},
		{"sparse pole outside", true, 0, math.Acos(0.99), 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCartpole(true, tc.sparse)
			c.x, c.th, c.thd = tc.x, tc.th, tc.thd
			if got := c.reward([]float64{tc.u}); !near(got, tc.want) {
				t.Errorf("reward = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPendulumRewards(t *testing.T) {
	tests := []struct {
		deg  float64
		want float64
	}{{0, 1}, {7.9, 1}, {-7.9, 1}, {8.1, 0}, {180, 0}, {-90, 0}}
	for _, tc := range tests {
		p := newPendulum()
		p.th = tc.deg * math.Pi / 180
		if got := p.reward(nil); got != tc.want {
			t.Errorf("reward at %v° = %v, want %v", tc.deg, got, tc.want)
		}
	}
}

func TestReacherRewards(t *testing.T) {
	tests := []struct {
		name       string
		size, dist float64
		want       float64
	}{
		{"easy, on target", reacherEasy, 0, 1},
		{"easy, touching", reacherEasy, 0.059, 1},
		{"easy, just off", reacherEasy, 0.061, 0},
		{"hard, touching", reacherHard, 0.024, 1},
		{"hard, just off", reacherHard, 0.026, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReacher(tc.size)
			r.q = [2]float64{0.3, -1.1}
			_, f := r.joints()
			r.target = f.Add(v2(tc.dist*0.6, tc.dist*0.8))
			if got := r.reward(nil); got != tc.want {
				t.Errorf("reward = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReacherFingertip(t *testing.T) {
	r := newReacher(reacherEasy)
	r.q = [2]float64{math.Pi / 2, -math.Pi / 2}
	w, f := r.joints()
	if !near(w.X, 0) || !near(w.Y, 0.12) || !near(f.X, 0.12) || !near(f.Y, 0.12) {
		t.Errorf("wrist %v, fingertip %v; want (0, 0.12) and (0.12, 0.12)", w, f)
	}
}

func TestPointMassRewards(t *testing.T) {
	tests := []struct {
		name   string
		x, y   float64
		u1, u2 float64
		want   float64
	}{
		{"on target, no control", 0, 0, 0, 0, 1},
		{"inside the target", 0.01, 0, 0, 0, 1},
		// distance 0.03 is one margin beyond the bound: 0.1; control mean (0+1)/2 -> (0.5+4)/5
		{"a margin away, half control", 0.018, 0.024, 1, 0, 0.1 * 0.9},
		{"on target, full control", 0, 0, -1, 1, 0.8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPointMass(false)
			p.pos = [2]float64{tc.x, tc.y}
			if got := p.reward([]float64{tc.u1, tc.u2}); !near(got, tc.want) {
				t.Errorf("reward = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBallInCupRewards(t *testing.T) {
	tests := []struct {
		name   string
		dx, dz float64
		want   float64
	}{
		{"centre of the cup", 0, 0, 1},
		{"inside near a wall", 0.024, -0.02, 1},
		{"touching the side", 0.026, 0, 0},
		{"above the rim", 0, 0.03, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBallInCup()
			b.cup = v2(0.1, -0.05)
			target := b.cupPos().Add(b.targetCenter)
			b.ball = target.Add(v2(tc.dx, tc.dz)).Sub(b.ballHome)
			if got := b.reward(nil); got != tc.want {
				t.Errorf("reward = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEnergyConservation switches damping off and checks that, without
// control, each integrator keeps mechanical energy within its tolerance:
// RK4 (cartpole) to 1e-6 over 10 s; semi-implicit Euler, which is
// symplectic, within a bounded oscillation and with no drift.
func TestEnergyConservation(t *testing.T) {
	type sim struct {
		step   func()
		energy func() float64
	}
	tests := []struct {
		name  string
		make  func() sim
		steps int
		tol   float64 // of |E - E0| relative to the energy scale
		scale float64
		// drifts marks explicit velocity-dependent forces (the arm's
		// Coriolis terms), which semi-implicit Euler does not conserve:
		// TestEulerConverges checks that error instead.
		drifts bool
	}{
		{"cartpole RK4", func() sim {
			c := newCartpole(true, false)
			c.sliderDamping, c.hingeDamping = 0, 0
			c.th, c.thd, c.xd = 2.5, 1, 0.2
			return sim{func() { c.step([]float64{0}) }, c.energy}
		}, 1000, 1e-6, 0.1 * gravity * 0.5, false},
		{"pendulum Euler", func() sim {
			p := newPendulum()
			p.damping = 0
			p.th = 2.5
			return sim{func() { p.step([]float64{0}) }, p.energy}
		}, 1000, 0.06, 1 * gravity * 0.5, false},
		{"reacher Euler, 2 s", func() sim {
			r := newReacher(reacherEasy)
			r.damping = 0
			r.wristLimit = math.Inf(1) // the limit's impulse is inelastic
			r.q = [2]float64{0.2, 0.5}
			r.qd = [2]float64{3, -2}
			return sim{func() { r.step([]float64{0, 0}) }, r.energy}
		}, 100, 0.08, 0, true},
		{"ball in cup, slack string", func() sim {
			b := newBallInCup()
			b.damping = 0
			b.ball = v2(0.05, 0.25) // hangs 0.1 m below the anchor: slack for the first steps
			b.cup = v2(0.02, 0)
			return sim{func() { b.step([]float64{0, 0}) }, b.energy}
		}, 5, 1e-3, 0.13 * gravity * 0.6, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.make()
			e0 := s.energy()
			scale := tc.scale
			if scale == 0 {
				scale = math.Abs(e0)
			}
			maxErr := 0.0
			firstHalf := 0.0
			for i := range tc.steps {
				s.step()
				err := math.Abs(s.energy()-e0) / scale
				maxErr = math.Max(maxErr, err)
				if i == tc.steps/2 {
					firstHalf = maxErr
				}
			}
			if maxErr > tc.tol {
				t.Errorf("energy error %.3g of scale, want <= %.3g", maxErr, tc.tol)
			}
			if !tc.drifts && tc.steps >= 100 && maxErr > 2*firstHalf+tc.tol/10 {
				t.Errorf("energy drifts: max error %.3g in the first half, %.3g overall", firstHalf, maxErr)
			}
		})
	}
}

// TestEulerConverges checks that the energy error of the tasks integrated
// with semi-implicit Euler (as MuJoCo's default integrator) is the
// integrator's own: it shrinks in proportion to the time step.
func TestEulerConverges(t *testing.T) {
	reacherErr := func(dt float64) float64 {
		r := newReacher(reacherEasy)
		r.damping, r.wristLimit, r.dt = 0, math.Inf(1), dt
		r.q, r.qd = [2]float64{0.2, 0.5}, [2]float64{3, -2}
		e0 := r.energy()
		for range int(math.Round(2 / dt)) {
			r.step([]float64{0, 0})
		}
		return math.Abs(r.energy()-e0) / e0
	}
	pendulumErr := func(dt float64) float64 {
		p := newPendulum()
		p.damping, p.dt = 0, dt
		p.th = 2.5
		e0 := p.energy()
		worst := 0.0
		for range int(math.Round(5 / dt)) {
			p.step([]float64{0})
			worst = math.Max(worst, math.Abs(p.energy()-e0))
		}
		return worst
	}
	tests := []struct {
		name string
		err  func(dt float64) float64
		dt   float64
	}{{"reacher", reacherErr, 0.02}, {"pendulum", pendulumErr, 0.02}}
	for _, tc := range tests {
		coarse, fine := tc.err(tc.dt), tc.err(tc.dt/10)
		if ratio := coarse / fine; ratio < 5 || ratio > 20 {
			t.Errorf("%s: energy error %.3g at dt=%v and %.3g at dt/10: ratio %.3g, want about 10 (first order)", tc.name, coarse, tc.dt, fine, ratio)
		}
	}
}

// TestBallInCupIsPassive checks that without damping and control, contacts
// and the string only ever take energy out of the system.
func TestBallInCupIsPassive(t *testing.T) {
	for seed := range int64(10) {
		b := newBallInCup()
		b.damping = 0
		b.reset(seedStream(seed))
		e0 := b.energy()
		for i := range 1000 {
			b.step([]float64{0, 0})
			if e := b.energy(); e > e0+1e-3*math.Abs(e0) {
				t.Fatalf("seed %d step %d: energy rose from %v to %v", seed, i, e0, e)
			}
		}
	}
}

func TestBalancedPoleStaysUp(t *testing.T) {
	c := newCartpole(false, false)
	c.x, c.th, c.xd, c.thd = 0, 0, 0, 0
	for range 1000 {
		c.step([]float64{0})
	}
	if c.th != 0 || c.x != 0 {
		t.Errorf("pole at rest upright moved to x=%v th=%v", c.x, c.th)
	}
	// A PD controller holds the pole up from every balance start.
	for seed := range int64(20) {
		e, _ := Make("cartpole-balance")
		o, _ := e.Reset(&seed)
		total := 0.0
		for {
			s := o.State // x, cos, sin, xdot, thdot
			th := math.Atan2(s[2], s[1])
			u := 0.2*s[0] + 0.4*s[3] + 4*th + 1*s[4]
			var r float64
			var done bool
			o, r, _, done, _ = e.Step([]float64{u})
			total += r
			if o.State[1] < math.Cos(0.2) {
				t.Fatalf("seed %d: pole fell to cos %v", seed, o.State[1])
			}
			if done {
				break
			}
		}
		if total < 990 {
			t.Errorf("seed %d: return %v, want >= 990 for a balanced pole", seed, total)
		}
	}
}

func TestSwingupStartsHangingDown(t *testing.T) {
	e, _ := Make("cartpole-swingup")
	seed := int64(1)
	o, _ := e.Reset(&seed)
	if o.State[1] > -0.99 || math.Abs(o.State[0]) > 0.1 {
		t.Errorf("swingup start state %v: want the pole hanging (cos ~ -1) and the cart centred", o.State)
	}
}

func TestCartStaysNearSliderRange(t *testing.T) {
	c := newCartpole(true, false)
	c.reset(seedStream(1))
	maxX := 0.0
	for range 1000 {
		c.step([]float64{1})
		maxX = math.Max(maxX, math.Abs(c.x))
	}
	if maxX > c.sliderRange+0.25 { // soft like MuJoCo's solreflimit
		t.Errorf("cart reached |x| = %v, want the soft limit to hold it near %v", maxX, c.sliderRange)
	}
	if maxX < c.sliderRange {
		t.Errorf("cart pushed right for 10 s only reached %v", maxX)
	}
}

func TestStringNeverStretches(t *testing.T) {
	policies := []struct {
		name string
		act  func(i int, rng func() float64) []float64
	}{
		{"random", func(_ int, rng func() float64) []float64 { return []float64{2*rng() - 1, 2*rng() - 1} }},
		{"bang-bang", func(i int, _ func() float64) []float64 {
			s := float64(1 - 2*((i/15)%2))
			return []float64{s, -s}
		}},
		{"yank down", func(i int, _ func() float64) []float64 { return []float64{0, float64(1 - 2*((i/40)%2))} }},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			worst := 0.0
			for seed := range int64(10) {
				b := newBallInCup()
				rng := seedStream(seed)
				b.reset(rng)
				for i := range 1000 {
					a := p.act(i, rng.Float64)
					for range b.substeps {
						b.substep(a)
						if l := b.stringLength(); l > worst {
							worst = l
						}
						if b.ballPos().Y < b.ballRadius-1e-9 {
							t.Fatalf("seed %d step %d: ball below the floor at %v", seed, i, b.ballPos().Y)
						}
					}
				}
			}
			if worst > b0().stringLen {
				t.Errorf("string stretched to %v, longer than %v", worst, b0().stringLen)
			}
			if worst < b0().stringLen-0.01 {
				t.Errorf("string never went taut (max length %v)", worst)
			}
		})
	}
}

func b0() *ballInCup { return newBallInCup() }

func TestBallStaysOutOfCupWalls(t *testing.T) {
	for seed := range int64(10) {
		b := newBallInCup()
		rng := seedStream(seed)
		b.reset(rng)
		for i := range 1000 {
			b.step([]float64{2*rng.Float64() - 1, 2*rng.Float64() - 1})
			p, c := b.ballPos(), b.cupPos()
			for _, s := range b.cupParts {
				if _, d := closest(c.Add(s[0]), c.Add(s[1]), p); d < b.ballRadius+b.cupRadius-0.002 {
					t.Fatalf("seed %d step %d: ball %v mm inside the cup wall", seed, i, (b.ballRadius+b.cupRadius-d)*1000)
				}
			}
		}
	}
}

func TestJointLimitsHold(t *testing.T) {
	r := newReacher(reacherEasy)
	r.reset(seedStream(2))
	p := newPointMass(false)
	p.reset(seedStream(2))
	for i := range 1000 {
		s := float64(1 - 2*((i/50)%2))
		r.step([]float64{-s, s})
		p.step([]float64{s, -s})
		if math.Abs(r.q[1]) > r.wristLimit+1e-12 {
			t.Fatalf("step %d: wrist at %v rad, beyond its limit %v", i, r.q[1], r.wristLimit)
		}
		if math.Abs(p.pos[0]) > p.limit+1e-12 || math.Abs(p.pos[1]) > p.limit+1e-12 {
			t.Fatalf("step %d: point mass at %v, beyond ±%v", i, p.pos, p.limit)
		}
	}
}

func TestBallInCupCanBeCaught(t *testing.T) {
	// Put the ball just above the cup, falling: it must land inside and
	// stay there, earning reward 1.
	b := newBallInCup()
	b.ball = b.cupPos().Add(v2(0, 0.05)).Sub(b.ballHome)
	for range 50 {
		b.step([]float64{0, 0})
	}
	if !b.inTarget() {
		t.Errorf("ball dropped into the cup ended at %v, cup at %v", b.ballPos(), b.cupPos())
	}
}
