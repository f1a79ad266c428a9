package envs

import (
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// pendulum is dm_control's pendulum domain: a 1 kg ball on a massless 0.5 m
// pole, hinge damping 0.1, driven by a torque motor of gear 1 (too weak to
// lift the pole directly, so the agent must swing it up).
type pendulum struct {
	mass, length, ballRadius float64
	inertia                  float64 // about the hinge
	damping, gear            float64
	dt                       float64
	pivotY                   float64
	cosBound                 float64 // cos(8°): the reward is 1 within 8° of upright

	th, thd float64 // pole angle (0 = up), angular velocity

	sc render.Scene
}

func newPendulum() *pendulum {
	p := &pendulum{mass: 1, length: 0.5, ballRadius: 0.05, damping: 0.1, gear: 1, dt: 0.02, pivotY: 0.6, cosBound: math.Cos(8 * math.Pi / 180)}
	p.inertia = p.mass*p.length*p.length + 0.4*p.mass*p.ballRadius*p.ballRadius
	p.sc = render.Scene{
		Camera:   render.Camera{Center: v2(0, 0.6), HalfHeight: 0.72},
		View:     render.SideView,
		FloorY:   0,
		GridSize: 0.4,
		Shapes:   make([]render.Shape, 3),
	}
	return p
}

func (p *pendulum) spec() taskSpec {
	return taskSpec{
		domain: "pendulum", task: "swingup",
		description: "swing the pendulum up from a random angle and keep it within 8° of upright",
		controlDt:   p.dt, physicsDt: p.dt, maxSteps: 1000, actions: 1,
		stateKeys: []StateKey{{"orientation", 2}, {"velocity", 1}},
	}
}

func (p *pendulum) reset(rng *rand.Rand) {
	p.th = -math.Pi + 2*math.Pi*rng.Float64()
	p.thd = 0
}

// step integrates one semi-implicit Euler step with implicit damping, as
// MuJoCo's default Euler integrator.
func (p *pendulum) step(ctrl []float64) {
	torque := p.gear*ctrl[0] + p.mass*gravity*p.length*math.Sin(p.th) - p.damping*p.thd
	acc := torque / (p.inertia + p.dt*p.damping)
	p.thd += p.dt * acc
	p.th += p.dt * p.thd
}

func (p *pendulum) energy() float64 {
	return 0.5*p.inertia*p.thd*p.thd + p.mass*gravity*p.length*math.Cos(p.th)
}

func (p *pendulum) reward([]float64) float64 {
	return Tolerance(math.Cos(p.th), p.cosBound, 1, 0, Gaussian, DefaultValueAtMargin)
}

func (p *pendulum) observe(dst []float64) {
	dst[0], dst[1], dst[2] = math.Cos(p.th), math.Sin(p.th), p.thd
}

func (p *pendulum) scene() *render.Scene {
	pivot := v2(0, p.pivotY)
	tip := v2(p.length*math.Sin(p.th), p.pivotY+p.length*math.Cos(p.th))
	p.sc.Shapes[0] = render.CapsuleFromTo(pivot, tip, 0.02, render.Self)
	p.sc.Shapes[1] = render.CircleAt(pivot, 0.021, -p.th, render.Decoration)
	p.sc.Shapes[2] = render.CircleAt(tip, p.ballRadius, -p.th, render.Effector)
	return &p.sc
}
