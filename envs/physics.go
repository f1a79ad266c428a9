package envs

import (
	"math"

	"github.com/selfsup/selfsup/envs/render"
)

// Physical constants and MuJoCo defaults the tasks share.
const (
	gravity = 9.81   // m/s², MuJoCo's default |g|
	density = 1000.0 // kg/m³, MuJoCo's default geom density
)

var (
	negInf = math.Inf(-1)
	posInf = math.Inf(1)
)

// sphereVolume returns the volume of a sphere of radius r.
func sphereVolume(r float64) float64 { return 4.0 / 3.0 * math.Pi * r * r * r }

// capsuleVolume returns the volume of a capsule of radius r whose cylinder
// is h long.
func capsuleVolume(r, h float64) float64 { return math.Pi*r*r*h + sphereVolume(r) }

// capsuleInertia returns the moment of inertia of a solid capsule of mass m,
// radius r and cylinder length h about an axis through its centre,
// perpendicular to its own axis: the cylinder plus two hemispheres at their
// offsets (the same formula MuJoCo uses to infer inertia from geoms).
func capsuleInertia(m, r, h float64) float64 {
	vc := math.Pi * r * r * h
	vs := sphereVolume(r)
	mc := m * vc / (vc + vs)
	ms := m - mc
	return mc*(h*h/12+r*r/4) + ms*(2*r*r/5+h*h/4+3*h*r/8)
}

// v2 is shorthand for a render.Vec.
func v2(x, y float64) render.Vec { return render.Vec{X: x, Y: y} }

// wrapAngle returns a in [-pi, pi).
func wrapAngle(a float64) float64 {
	a = math.Mod(a+math.Pi, 2*math.Pi)
	if a < 0 {
		a += 2 * math.Pi
	}
	return a - math.Pi
}
