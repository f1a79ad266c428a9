package envs

import (
	"math"
	"math/rand/v2"

	"github.com/selfsup/selfsup/envs/render"
)

// cartpole is dm_control's cartpole domain: a cart on a rail (slider
// ±1.8 m) with a pole on a hinge, pushed by a motor of gear 10. Tasks:
// balance (start near upright) and swingup (start hanging down), each with
// a smooth or a sparse reward.
type cartpole struct {
	swingup, sparse bool

	// model
	cartMass, poleMass   float64
	poleLen, poleRadius  float64
	poleCOM, poleInertia float64 // distance hinge-COM, inertia about COM
	sliderDamping        float64
	hingeDamping         float64
	gear                 float64
	sliderRange          float64
	limitStiffness       float64 // soft slider limit, acceleration units
	limitDamping         float64
	dt                   float64

	// state: cart position, pole angle (0 = up), and their rates
	x, th, xd, thd float64

	sc render.Scene
}

func newCartpole(swingup, sparse bool) *cartpole {
	c := &cartpole{
		swingup: swingup, sparse: sparse,
		cartMass: 1, poleMass: 0.1, poleLen: 1, poleRadius: 0.045,
		sliderDamping: 5e-4, hingeDamping: 2e-6, gear: 10, sliderRange: 1.8,
		dt: 0.01,
	}
	c.poleCOM = c.poleLen / 2
	c.poleInertia = capsuleInertia(c.poleMass, c.poleRadius, c.poleLen)
	// A critically damped limit with time constant 0.08 s (solreflimit).
	const tc = 0.08
	c.limitStiffness = 1 / (tc * tc)
	c.limitDamping = 2 / tc
	c.sc = render.Scene{
		Camera:   render.Camera{Center: v2(0, 1), HalfHeight: 4 * math.Tan(22.5*math.Pi/180)},
		View:     render.SideView,
		FloorY:   -0.05,
		GridSize: 0.5,
		Static: []render.Shape{
			render.CapsuleFromTo(v2(-2, 1), v2(2, 1), 0.02, render.Decoration),
		},
		Shapes: make([]render.Shape, 2),
	}
	return c
}

func (c *cartpole) spec() taskSpec {
	name, desc := "balance", "keep the pole upright, starting near upright"
	if c.swingup {
		name, desc = "swingup", "swing the pole up from hanging down and balance it"
	}
	if c.sparse {
		name += "_sparse"
		desc += " (sparse reward)"
	}
	return taskSpec{
		domain: "cartpole", task: name, description: desc,
		controlDt: c.dt, physicsDt: c.dt, maxSteps: 1000, actions: 1,
		stateKeys: []StateKey{{"position", 3}, {"velocity", 2}},
	}
}

func (c *cartpole) reset(rng *rand.Rand) {
	if c.swingup {
		c.x = 0.01 * rng.NormFloat64()
		c.th = math.Pi + 0.01*rng.NormFloat64()
	} else {
		c.x = -0.1 + 0.2*rng.Float64()
		c.th = -0.034 + 0.068*rng.Float64()
	}
	c.xd = 0.01 * rng.NormFloat64()
	c.thd = 0.01 * rng.NormFloat64()
}

// accel returns the accelerations of the cart and the pole.
func (c *cartpole) accel(x, th, xd, thd, force float64) (xdd, thdd float64) {
	m := c.cartMass + c.poleMass
	ml := c.poleMass * c.poleCOM
	s, co := math.Sin(th), math.Cos(th)
	m11 := m
	m12 := ml * co
	m22 := c.poleInertia + c.poleMass*c.poleCOM*c.poleCOM
	f1 := force - c.sliderDamping*xd + ml*s*thd*thd + c.limitForce(x, xd)
	f2 := ml*gravity*s - c.hingeDamping*thd
	det := m11*m22 - m12*m12
	return (f1*m22 - m12*f2) / det, (m11*f2 - m12*f1) / det
}

// limitForce is the slider limit's force: a one-sided spring-damper that
// only ever pushes the cart back inside the range.
func (c *cartpole) limitForce(x, xd float64) float64 {
	m := c.cartMass + c.poleMass
	switch {
	case x > c.sliderRange:
		return math.Min(0, -m*(c.limitStiffness*(x-c.sliderRange)+c.limitDamping*xd))
	case x < -c.sliderRange:
		return math.Max(0, -m*(c.limitStiffness*(x+c.sliderRange)+c.limitDamping*xd))
	}
	return 0
}

// step integrates one time step with the classic fourth-order Runge-Kutta
// method, as MuJoCo's RK4 integrator which cartpole.xml selects.
func (c *cartpole) step(ctrl []float64) {
	f := c.gear * ctrl[0]
	h := c.dt
	x, th, xd, thd := c.x, c.th, c.xd, c.thd
	a1, b1 := c.accel(x, th, xd, thd, f)
	a2, b2 := c.accel(x+h/2*xd, th+h/2*thd, xd+h/2*a1, thd+h/2*b1, f)
	a3, b3 := c.accel(x+h/2*(xd+h/2*a1), th+h/2*(thd+h/2*b1), xd+h/2*a2, thd+h/2*b2, f)
	a4, b4 := c.accel(x+h*(xd+h/2*a2), th+h*(thd+h/2*b2), xd+h*a3, thd+h*b3, f)
	c.x = x + h/6*(xd+2*(xd+h/2*a1)+2*(xd+h/2*a2)+(xd+h*a3))
	c.th = th + h/6*(thd+2*(thd+h/2*b1)+2*(thd+h/2*b2)+(thd+h*b3))
	c.xd = xd + h/6*(a1+2*a2+2*a3+a4)
	c.thd = thd + h/6*(b1+2*b2+2*b3+b4)
}

// energy returns the mechanical energy (kinetic plus gravitational, zero
// with the pole's centre of mass at the hinge's height).
func (c *cartpole) energy() float64 {
	m := c.cartMass + c.poleMass
	ml := c.poleMass * c.poleCOM
	m22 := c.poleInertia + c.poleMass*c.poleCOM*c.poleCOM
	ke := 0.5 * (m*c.xd*c.xd + 2*ml*math.Cos(c.th)*c.xd*c.thd + m22*c.thd*c.thd)
	return ke + ml*gravity*math.Cos(c.th)
}

func (c *cartpole) reward(ctrl []float64) float64 {
	cos := math.Cos(c.th)
	if c.sparse {
		return Tolerance(c.x, -0.25, 0.25, 0, Gaussian, DefaultValueAtMargin) *
			Tolerance(cos, 0.995, 1, 0, Gaussian, DefaultValueAtMargin)
	}
	upright := (cos + 1) / 2
	centered := (1 + Tolerance(c.x, 0, 0, 2, Gaussian, DefaultValueAtMargin)) / 2
	smallControl := (4 + Tolerance(ctrl[0], 0, 0, 1, Quadratic, 0)) / 5
	smallVelocity := (1 + Tolerance(c.thd, 0, 0, 5, Gaussian, DefaultValueAtMargin)) / 2
	return upright * smallControl * smallVelocity * centered
}

func (c *cartpole) observe(dst []float64) {
	dst[0], dst[1], dst[2] = c.x, math.Cos(c.th), math.Sin(c.th)
	dst[3], dst[4] = c.xd, c.thd
}

func (c *cartpole) scene() *render.Scene {
	base := v2(c.x, 1)
	tip := v2(c.x+c.poleLen*math.Sin(c.th), 1+c.poleLen*math.Cos(c.th))
	c.sc.Shapes[0] = render.CapsuleFromTo(base, tip, c.poleRadius, render.Self)
	c.sc.Shapes[1] = render.BoxAt(base, 0.2, 0.1, 0, render.Self)
	return &c.sc
}
