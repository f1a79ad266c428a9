package envs

import (
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// ballInCup is dm_control's ball-in-cup: a cup on x and z slide joints
// (springs of stiffness 20 and damping 3 to its home, motors of gear 5) with
// a ball tied to its bottom by a 0.3 m string. The string is a rope: it
// pulls when taut and never stretches past its length, and goes slack
// otherwise. The ball collides with the cup's five capsules and the floor.
// The reward is 1 while the ball is inside the cup.
type ballInCup struct {
	// model
	cupHome, ballHome render.Vec
	cupMass, ballMass float64
	ballRadius        float64
	cupRadius         float64
	cupParts          [5][2]render.Vec // capsule segments, cup frame
	site              render.Vec       // string anchor, cup frame
	targetCenter      render.Vec       // cup frame
	targetHalf        render.Vec
	stringLen         float64
	stiffness         float64
	damping           float64
	gear              float64
	friction          float64
	dt                float64
	substeps          int
	iterations        int

	// state, in joint coordinates (offsets from the home positions)
	cup, cupVel, ball, ballVel render.Vec

	contacts [6]contact
	sc       render.Scene
}

// contact is one active constraint between the ball and the cup or floor.
type contact struct {
	n       render.Vec // normal, pointing from the other body to the ball
	gap     float64
	dynamic bool // against the cup (else the static floor)
	ln, lt  float64
}

func newBallInCup() *ballInCup {
	b := &ballInCup{
		cupHome: v2(0, 0.6), ballHome: v2(0, 0.2),
		ballRadius: 0.025, cupRadius: 0.008,
		cupParts: [5][2]render.Vec{
			{v2(-0.05, 0), v2(-0.05, -0.075)},
			{v2(-0.05, -0.075), v2(-0.025, -0.1)},
			{v2(-0.025, -0.1), v2(0.025, -0.1)},
			{v2(0.025, -0.1), v2(0.05, -0.075)},
			{v2(0.05, -0.075), v2(0.05, 0)},
		},
		site:         v2(0, -0.108),
		targetCenter: v2(0, -0.05), targetHalf: v2(0.05, 0.05),
		stringLen: 0.3, stiffness: 20, damping: 3, gear: 5, friction: 1,
		dt: 0.002, substeps: 10, iterations: 10,
	}
	for _, p := range b.cupParts {
		b.cupMass += density * capsuleVolume(b.cupRadius, p[1].Sub(p[0]).Len())
	}
	b.ballMass = density * sphereVolume(b.ballRadius)
	b.sc = render.Scene{
		Camera:   render.Camera{Center: v2(0, 0.4), HalfHeight: 0.45},
		View:     render.SideView,
		FloorY:   0,
		GridSize: 0.2,
		Shapes:   make([]render.Shape, 7),
	}
	return b
}

func (b *ballInCup) spec() taskSpec {
	return taskSpec{
		domain: "ball_in_cup", task: "catch",
		description: "swing the ball on its string up into the cup",
		controlDt:   b.dt * float64(b.substeps), physicsDt: b.dt, maxSteps: 1000, actions: 2,
		stateKeys: []StateKey{{"position", 4}, {"velocity", 4}},
	}
}

func (b *ballInCup) cupPos() render.Vec  { return b.cupHome.Add(b.cup) }
func (b *ballInCup) ballPos() render.Vec { return b.ballHome.Add(b.ball) }

// anchor returns the world position of the string's anchor on the cup.
func (b *ballInCup) anchor() render.Vec { return b.cupPos().Add(b.site) }

// stringLength returns the distance between the string's ends.
func (b *ballInCup) stringLength() float64 { return b.ballPos().Sub(b.anchor()).Len() }

func (b *ballInCup) reset(rng *rand.Rand) {
	b.cup, b.cupVel, b.ballVel = render.Vec{}, render.Vec{}, render.Vec{}
	for {
		b.ball = v2(-0.2+0.4*rng.Float64(), 0.2+0.3*rng.Float64())
		if !b.penetrating() {
			return
		}
	}
}

// penetrating reports whether the ball overlaps the cup or the floor.
func (b *ballInCup) penetrating() bool {
	p, c := b.ballPos(), b.cupPos()
	if p.Y < b.ballRadius {
		return true
	}
	for _, s := range b.cupParts {
		if _, d := closest(c.Add(s[0]), c.Add(s[1]), p); d < b.ballRadius+b.cupRadius {
			return true
		}
	}
	return false
}

// closest returns the point of segment a-b closest to p and its distance.
func closest(a, b, p render.Vec) (render.Vec, float64) {
	ab := b.Sub(a)
	t := p.Sub(a).Dot(ab) / ab.Dot(ab)
	t = min(max(t, 0), 1)
	q := a.Add(ab.Scale(t))
	return q, p.Sub(q).Len()
}

func (b *ballInCup) step(ctrl []float64) {
	for range b.substeps {
		b.substep(ctrl)
	}
}

// substep advances the physics by one 2 ms time step: semi-implicit Euler
// for the forces (cup joint damping implicit, as MuJoCo), then sequential
// impulses for contacts, friction and the string at the velocity level, then
// a position projection that keeps the string within its length exactly.
func (b *ballInCup) substep(ctrl []float64) {
	dt := b.dt
	mc, mb := b.cupMass, b.ballMass
	// Forces.
	fx := b.gear*ctrl[0] - b.stiffness*b.cup.X
	fz := b.gear*ctrl[1] - b.stiffness*b.cup.Y - mc*gravity
	b.cupVel.X = (mc*b.cupVel.X + dt*fx) / (mc + dt*b.damping)
	b.cupVel.Y = (mc*b.cupVel.Y + dt*fz) / (mc + dt*b.damping)
	b.ballVel.Y -= dt * gravity

	// Constraints active in this step (speculative within a margin).
	const margin = 0.005
	p, c := b.ballPos(), b.cupPos()
	nc := 0
	for _, s := range b.cupParts {
		q, d := closest(c.Add(s[0]), c.Add(s[1]), p)
		gap := d - b.ballRadius - b.cupRadius
		if gap < margin && d > 0 {
			b.contacts[nc] = contact{n: p.Sub(q).Scale(1 / d), gap: gap, dynamic: true}
			nc++
		}
	}
	if gap := p.Y - b.ballRadius; gap < margin {
		b.contacts[nc] = contact{n: v2(0, 1), gap: gap}
		nc++
	}
	rope := p.Sub(c.Add(b.site))
	ropeLen := rope.Len()
	ropeActive := ropeLen > b.stringLen-margin && ropeLen > 0
	var ropeN render.Vec
	var ropeLambda float64
	if ropeActive {
		ropeN = rope.Scale(1 / ropeLen)
	}

	const beta = 0.2 // fraction of a penetration removed per step by velocity
	invPair := 1 / mb
	invBoth := 1/mb + 1/mc
	for range b.iterations {
		for i := 0; i < nc; i++ {
			ct := &b.contacts[i]
			inv := invPair
			rel := b.ballVel
			if ct.dynamic {
				inv = invBoth
				rel = rel.Sub(b.cupVel)
			}
			vn := rel.Dot(ct.n)
			vmin := -ct.gap / dt
			if ct.gap < 0 {
				vmin *= beta
			}
			ln := max(ct.ln+(vmin-vn)/inv, 0)
			dl := ln - ct.ln
			ct.ln = ln
			b.applyImpulse(ct.n.Scale(dl), ct.dynamic)
			// Coulomb friction along the tangent.
			rel = b.ballVel
			if ct.dynamic {
				rel = rel.Sub(b.cupVel)
			}
			t := v2(-ct.n.Y, ct.n.X)
			lim := b.friction * ct.ln
			lt := min(max(ct.lt-rel.Dot(t)/inv, -lim), lim)
			dt := lt - ct.lt
			ct.lt = lt
			b.applyImpulse(t.Scale(dt), ct.dynamic)
		}
		if ropeActive {
			vr := b.ballVel.Sub(b.cupVel).Dot(ropeN)
			c := ropeLen - b.stringLen
			vmax := -c / dt
			if c > 0 {
				vmax *= beta
			}
			l := min(ropeLambda+(vmax-vr)/invBoth, 0)
			dl := l - ropeLambda
			ropeLambda = l
			b.applyImpulse(ropeN.Scale(dl), true)
		}
	}

	b.cup = b.cup.Add(b.cupVel.Scale(dt))
	b.ball = b.ball.Add(b.ballVel.Scale(dt))
	b.project()
}

// applyImpulse applies impulse j to the ball and, for a dynamic contact, -j
// to the cup.
func (b *ballInCup) applyImpulse(j render.Vec, dynamic bool) {
	b.ballVel = b.ballVel.Add(j.Scale(1 / b.ballMass))
	if dynamic {
		b.cupVel = b.cupVel.Sub(j.Scale(1 / b.cupMass))
	}
}

// project removes what penetration is left and then pulls the ball and the
// cup together, weighted by their masses, so the string is never longer
// than its length.
func (b *ballInCup) project() {
	mc, mb := b.cupMass, b.ballMass
	wb, wc := mc/(mb+mc), mb/(mb+mc)
	p, c := b.ballPos(), b.cupPos()
	for _, s := range b.cupParts {
		q, d := closest(c.Add(s[0]), c.Add(s[1]), p)
		if gap := d - b.ballRadius - b.cupRadius; gap < 0 && d > 0 {
			n := p.Sub(q).Scale(1 / d)
			b.ball = b.ball.Sub(n.Scale(gap * wb))
			b.cup = b.cup.Add(n.Scale(gap * wc))
			p, c = b.ballPos(), b.cupPos()
		}
	}
	if gap := p.Y - b.ballRadius; gap < 0 {
		b.ball.Y -= gap
	}
	// The string last, so that its length is a hard invariant.
	for range 2 {
		r := b.ballPos().Sub(b.anchor())
		d := r.Len()
		excess := d - b.stringLen
		if excess <= 0 {
			return
		}
		n := r.Scale(1 / d)
		b.ball = b.ball.Sub(n.Scale(excess * wb))
		b.cup = b.cup.Add(n.Scale(excess * wc))
	}
	// Rounding can leave the string a few ulps long: move the ball onto
	// the sphere of radius stringLen around the anchor.
	if r := b.ballPos().Sub(b.anchor()); r.Len() > b.stringLen {
		a := b.anchor()
		b.ball = a.Add(r.Scale(b.stringLen / r.Len() * (1 - 1e-15))).Sub(b.ballHome)
	}
}

// energy returns kinetic, gravitational and spring energy.
func (b *ballInCup) energy() float64 {
	ke := 0.5*b.cupMass*b.cupVel.Dot(b.cupVel) + 0.5*b.ballMass*b.ballVel.Dot(b.ballVel)
	pe := gravity * (b.cupMass*b.cupPos().Y + b.ballMass*b.ballPos().Y)
	return ke + pe + 0.5*b.stiffness*b.cup.Dot(b.cup)
}

// inTarget reports whether the ball is inside the cup.
func (b *ballInCup) inTarget() bool {
	d := b.cupPos().Add(b.targetCenter).Sub(b.ballPos())
	return math.Abs(d.X) < b.targetHalf.X-b.ballRadius && math.Abs(d.Y) < b.targetHalf.Y-b.ballRadius
}

func (b *ballInCup) reward([]float64) float64 {
	if b.inTarget() {
		return 1
	}
	return 0
}

func (b *ballInCup) observe(dst []float64) {
	dst[0], dst[1], dst[2], dst[3] = b.cup.X, b.cup.Y, b.ball.X, b.ball.Y
	dst[4], dst[5], dst[6], dst[7] = b.cupVel.X, b.cupVel.Y, b.ballVel.X, b.ballVel.Y
}

func (b *ballInCup) scene() *render.Scene {
	c, p := b.cupPos(), b.ballPos()
	b.sc.Shapes[0] = render.CapsuleFromTo(b.anchor(), p, 0.0015, render.String)
	for i, s := range b.cupParts {
		b.sc.Shapes[1+i] = render.CapsuleFromTo(c.Add(s[0]), c.Add(s[1]), b.cupRadius, render.Self)
	}
	b.sc.Shapes[6] = render.CircleAt(p, b.ballRadius, 0, render.Effector)
	return &b.sc
}
