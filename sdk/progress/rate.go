package progress

import (
	"math"
	"time"
)

// minSample is the least time between two rate samples, so that many
// fast steps do not make the rate jumpy.
const minSample = 200 * time.Millisecond

// rate estimates steps per second with an exponential average over time:
// each sample of (steps done, time taken) pulls the estimate towards its
// own rate by 1 - exp(-dt/window), so irregular updates weigh fairly.
type rate struct {
	window   time.Duration
	lastT    time.Time
	lastStep int
	perSec   float64
	known    bool
}

// observe records that step was reached at now.
func (r *rate) observe(step int, now time.Time) {
	dt := now.Sub(r.lastT)
	if dt < minSample || step < r.lastStep {
		if step < r.lastStep { // moved back: start over from here
			r.lastT, r.lastStep = now, step
		}
		return
	}
	inst := float64(step-r.lastStep) / dt.Seconds()
	if !r.known {
		r.perSec, r.known = inst, true
	} else {
		a := 1 - math.Exp(-dt.Seconds()/r.window.Seconds())
		r.perSec += a * (inst - r.perSec)
	}
	r.lastT, r.lastStep = now, step
}

// eta returns the time left for the remaining steps, and false when it
// is not known yet.
func (r *rate) eta(remaining int) (time.Duration, bool) {
	if !r.known || r.perSec <= 0 {
		return 0, remaining <= 0
	}
	if remaining <= 0 {
		return 0, true
	}
	return time.Duration(float64(remaining) / r.perSec * float64(time.Second)), true
}
