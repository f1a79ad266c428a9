package envs

import (
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// pointMass is dm_control's planar point mass: a 0.3 kg ball on two damped
// slide joints limited to ±0.29 m, pushed by two motors of gear 0.1 towards
// a target at the centre. In the hard task each control pushes along a
// random direction drawn per episode.
type pointMass struct {
	randomGains bool

	mass, radius, damping, gear, limit float64
	targetSize                         float64
	dt                                 float64

	pos, vel   [2]float64
	dir1, dir2 [2]float64 // actuation directions of the two controls

	sc render.Scene
}

func newPointMass(randomGains bool) *pointMass {
	p := &pointMass{
		randomGains: randomGains,
		mass:        0.3, radius: 0.01, damping: 1, gear: 0.1, limit: 0.29,
		targetSize: 0.015, dt: 0.02,
		dir1: [2]float64{1, 0}, dir2: [2]float64{0, 1},
	}
	const wall, half = 0.3, 0.008
	p.sc = render.Scene{
		Camera:   render.Camera{Center: v2(0, 0), HalfHeight: 0.75 * math.Tan(22.5*math.Pi/180)},
		View:     render.TopDown,
		GridSize: 0.1,
		Static: []render.Shape{
			render.BoxAt(v2(-wall, 0), half, wall+half, 0, render.Decoration),
			render.BoxAt(v2(wall, 0), half, wall+half, 0, render.Decoration),
			render.BoxAt(v2(0, -wall), wall+half, half, 0, render.Decoration),
			render.BoxAt(v2(0, wall), wall+half, half, 0, render.Decoration),
			render.CircleAt(v2(0, 0), p.targetSize, 0, render.Target),
		},
		Shapes: make([]render.Shape, 1),
	}
	return p
}

func (p *pointMass) spec() taskSpec {
	name, desc := "easy", "push the point mass onto the target at the centre"
	if p.randomGains {
		name, desc = "hard", "push the point mass onto the target; each control pushes along a random direction"
	}
	return taskSpec{
		domain: "point_mass", task: name, description: desc,
		controlDt: p.dt, physicsDt: p.dt, maxSteps: 1000, actions: 2,
		stateKeys: []StateKey{{"position", 2}, {"velocity", 2}},
	}
}

func (p *pointMass) reset(rng *rand.Rand) {
	for i := range p.pos {
		p.pos[i] = -p.limit + 2*p.limit*rng.Float64()
	}
	p.vel = [2]float64{}
	if !p.randomGains {
		return
	}
	unit := func() [2]float64 {
		for {
			x, y := rng.NormFloat64(), rng.NormFloat64()
			if n := math.Hypot(x, y); n > 0 {
				return [2]float64{x / n, y / n}
			}
		}
	}
	p.dir1 = unit()
	for {
		p.dir2 = unit()
		if math.Abs(p.dir1[0]*p.dir2[0]+p.dir1[1]*p.dir2[1]) <= 0.9 {
			break
		}
	}
}

// step integrates one semi-implicit Euler step with implicit damping and
// stops the mass inelastically at the joint limits.
func (p *pointMass) step(ctrl []float64) {
	for i := range p.pos {
		f := p.gear*(ctrl[0]*p.dir1[i]+ctrl[1]*p.dir2[i]) - p.damping*p.vel[i]
		p.vel[i] += p.dt * f / (p.mass + p.dt*p.damping)
		next := p.pos[i] + p.dt*p.vel[i]
		if next > p.limit || next < -p.limit {
			p.vel[i] = (math.Copysign(p.limit, next) - p.pos[i]) / p.dt
		}
		p.pos[i] += p.dt * p.vel[i]
	}
}

func (p *pointMass) reward(ctrl []float64) float64 {
	dist := math.Hypot(p.pos[0], p.pos[1])
	near := Tolerance(dist, 0, p.targetSize, p.targetSize, Gaussian, DefaultValueAtMargin)
	c := (Tolerance(ctrl[0], 0, 0, 1, Quadratic, 0) + Tolerance(ctrl[1], 0, 0, 1, Quadratic, 0)) / 2
	return near * (c + 4) / 5
}

func (p *pointMass) observe(dst []float64) {
	dst[0], dst[1], dst[2], dst[3] = p.pos[0], p.pos[1], p.vel[0], p.vel[1]
}

func (p *pointMass) scene() *render.Scene {
	p.sc.Shapes[0] = render.CircleAt(v2(p.pos[0], p.pos[1]), p.radius, 0, render.Self)
	return &p.sc
}
