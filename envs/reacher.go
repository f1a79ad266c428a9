package envs

import (
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// Reacher target sizes (radii, metres).
const (
	reacherEasy = 0.05
	reacherHard = 0.015
)

// reacher is dm_control's two-link planar reacher: an arm (0.12 m capsule)
// on a shoulder and a hand (0.1 m capsule with a fingertip at 0.12 m) on a
// wrist limited to ±160°, both driven by motors of gear 0.05. The reward is
// 1 while the fingertip touches the target.
type reacher struct {
	targetSize, fingerSize float64

	// model
	l1, lc1, m1, i1 float64 // arm: length, COM distance, mass, inertia about COM
	lc2, m2, i2     float64 // hand with fingertip: COM distance, mass, inertia about COM
	handLen         float64
	fingerDist      float64
	damping, gear   float64
	wristLimit      float64
	dt              float64

	// state
	q, qd  [2]float64 // shoulder angle, wrist angle (relative), rates
	target render.Vec

	sc render.Scene
}

func newReacher(targetSize float64) *reacher {
	const r = 0.01
	t := &reacher{
		targetSize: targetSize, fingerSize: r,
		l1: 0.12, handLen: 0.1, fingerDist: 0.12,
		damping: 0.01, gear: 0.05, wristLimit: 160 * math.Pi / 180, dt: 0.02,
	}
	t.m1 = density * capsuleVolume(r, t.l1)
	t.lc1 = t.l1 / 2
	t.i1 = capsuleInertia(t.m1, r, t.l1)
	mh := density * capsuleVolume(r, t.handLen)
	ih := capsuleInertia(mh, r, t.handLen)
	mf := density * sphereVolume(r)
	iff := 0.4 * mf * r * r
	t.m2 = mh + mf
	t.lc2 = (mh*t.handLen/2 + mf*t.fingerDist) / t.m2
	dh, df := t.handLen/2-t.lc2, t.fingerDist-t.lc2
	t.i2 = ih + mh*dh*dh + iff + mf*df*df

	const wall, half = 0.3, 0.008
	t.sc = render.Scene{
		Camera:   render.Camera{Center: v2(0, 0), HalfHeight: 0.75 * math.Tan(22.5*math.Pi/180)},
		View:     render.TopDown,
		GridSize: 0.1,
		Static: []render.Shape{
			render.BoxAt(v2(-wall, 0), half, wall+half, 0, render.Decoration),
			render.BoxAt(v2(wall, 0), half, wall+half, 0, render.Decoration),
			render.BoxAt(v2(0, -wall), wall+half, half, 0, render.Decoration),
			render.BoxAt(v2(0, wall), wall+half, half, 0, render.Decoration),
		},
		Shapes: make([]render.Shape, 5),
	}
	return t
}

func (t *reacher) spec() taskSpec {
	name := "easy"
	if t.targetSize < reacherEasy {
		name = "hard"
	}
	return taskSpec{
		domain: "reacher", task: name,
		description: "move the fingertip of a two-link arm onto a randomly placed target",
		controlDt:   t.dt, physicsDt: t.dt, maxSteps: 1000, actions: 2,
		stateKeys: []StateKey{{"position", 2}, {"to_target", 2}, {"velocity", 2}},
	}
}

func (t *reacher) reset(rng *rand.Rand) {
	t.q[0] = -math.Pi + 2*math.Pi*rng.Float64()
	t.q[1] = -t.wristLimit + 2*t.wristLimit*rng.Float64()
	t.qd = [2]float64{}
	angle := 2 * math.Pi * rng.Float64()
	radius := 0.05 + 0.15*rng.Float64()
	t.target = v2(radius*math.Sin(angle), radius*math.Cos(angle))
}

// massMatrix returns the joint-space inertia matrix and the Coriolis and
// centrifugal forces of the two-link arm.
func (t *reacher) massMatrix() (m11, m12, m22, c1, c2 float64) {
	co, s := math.Cos(t.q[1]), math.Sin(t.q[1])
	m22 = t.i2 + t.m2*t.lc2*t.lc2
	m12 = m22 + t.m2*t.l1*t.lc2*co
	m11 = t.i1 + t.m1*t.lc1*t.lc1 + m22 + t.m2*t.l1*t.l1 + 2*t.m2*t.l1*t.lc2*co
	h := t.m2 * t.l1 * t.lc2 * s
	c1 = -h * t.qd[1] * (2*t.qd[0] + t.qd[1])
	c2 = h * t.qd[0] * t.qd[0]
	return
}

// step integrates one semi-implicit Euler step with implicit joint damping,
// then enforces the wrist limit with an inelastic impulse.
func (t *reacher) step(ctrl []float64) {
	m11, m12, m22, c1, c2 := t.massMatrix()
	a11, a22 := m11+t.dt*t.damping, m22+t.dt*t.damping
	det := a11*a22 - m12*m12
	f1 := t.gear*ctrl[0] - t.damping*t.qd[0] - c1
	f2 := t.gear*ctrl[1] - t.damping*t.qd[1] - c2
	t.qd[0] += t.dt * (a22*f1 - m12*f2) / det
	t.qd[1] += t.dt * (a11*f2 - m12*f1) / det
	// Wrist limit: if the step would cross it, apply the impulse along the
	// wrist that stops it exactly at the limit.
	next := t.q[1] + t.dt*t.qd[1]
	if next > t.wristLimit || next < -t.wristLimit {
		lim := math.Copysign(t.wristLimit, next)
		want := (lim - t.q[1]) / t.dt
		inv22 := a11 / det // (A⁻¹)₂₂
		inv12 := -m12 / det
		lambda := (want - t.qd[1]) / inv22
		t.qd[0] += inv12 * lambda
		t.qd[1] = want
	}
	t.q[0] += t.dt * t.qd[0]
	t.q[1] += t.dt * t.qd[1]
}

func (t *reacher) energy() float64 {
	m11, m12, m22, _, _ := t.massMatrix()
	return 0.5 * (m11*t.qd[0]*t.qd[0] + 2*m12*t.qd[0]*t.qd[1] + m22*t.qd[1]*t.qd[1])
}

// joints returns the wrist and fingertip positions.
func (t *reacher) joints() (wrist, finger render.Vec) {
	a := t.q[0]
	b := a + t.q[1]
	wrist = v2(t.l1*math.Cos(a), t.l1*math.Sin(a))
	finger = wrist.Add(v2(t.fingerDist*math.Cos(b), t.fingerDist*math.Sin(b)))
	return
}

func (t *reacher) reward([]float64) float64 {
	_, f := t.joints()
	return Tolerance(t.target.Sub(f).Len(), 0, t.targetSize+t.fingerSize, 0, Gaussian, DefaultValueAtMargin)
}

func (t *reacher) observe(dst []float64) {
	_, f := t.joints()
	d := t.target.Sub(f)
	dst[0], dst[1] = t.q[0], t.q[1]
	dst[2], dst[3] = d.X, d.Y
	dst[4], dst[5] = t.qd[0], t.qd[1]
}

func (t *reacher) scene() *render.Scene {
	w, f := t.joints()
	b := t.q[0] + t.q[1]
	hand := w.Add(v2(t.handLen*math.Cos(b), t.handLen*math.Sin(b)))
	t.sc.Shapes[0] = render.CircleAt(t.target, t.targetSize, 0, render.Target)
	t.sc.Shapes[1] = render.CapsuleFromTo(v2(0, 0), w, 0.01, render.Self)
	t.sc.Shapes[2] = render.CapsuleFromTo(w, hand, 0.01, render.Self)
	t.sc.Shapes[3] = render.CircleAt(f, t.fingerSize, b, render.Effector)
	t.sc.Shapes[4] = render.CircleAt(v2(0, 0), 0.011, t.q[0], render.Decoration)
	return &t.sc
}
