package progress

import (
	"io"
	"math"
	"time"
)

// Bar shows the progress of one piece of work on an io.Writer.
// A Bar is for use from one goroutine; its methods do not lock.
// Writing errors do not stop the work: the first is kept for Err.
type Bar struct {
	w       io.Writer
	opts    Options
	total   int
	step    int
	start   time.Time
	rate    rate
	metrics metrics

	lastDraw time.Time // last redraw or log line
	drawn    bool      // a redraw line is on screen
	nextPct  float64   // next percentage that earns a log line
	finished bool
	err      error
}

// New returns a Bar for total steps (zero or less when unknown) writing
// to w, starting the clock now.
func New(w io.Writer, total int, opts Options) *Bar {
	opts = opts.withDefaults(w)
	now := opts.Now()
	b := &Bar{
		w:        w,
		opts:     opts,
		total:    total,
		step:     opts.Start,
		start:    now,
		rate:     rate{window: opts.RateWindow, lastT: now, lastStep: opts.Start},
		lastDraw: now,
	}
	b.nextPct = b.nextMultiple(b.percent())
	return b
}

// Add advances by n steps and updates the given metrics.
func (b *Bar) Add(n int, metrics ...Metric) { b.Set(b.step+n, metrics...) }

// Set moves to step and updates the given metrics, and draws or logs
// when it is time to.
func (b *Bar) Set(step int, metrics ...Metric) {
	if b.finished {
		return
	}
	now := b.opts.Now()
	b.step = step
	b.metrics.set(metrics)
	b.rate.observe(step, now)
	if b.opts.Mode == Redraw {
		if !b.drawn || now.Sub(b.lastDraw) >= b.opts.RedrawEvery {
			b.redraw(now)
		}
		return
	}
	// A line is due every LogEvery, and at each LogPercent mark unless a
	// line came out less than a third of LogEvery ago (then the mark is
	// passed over, so two lines do not come out seconds apart).
	since := now.Sub(b.lastDraw)
	due := b.opts.LogEvery > 0 && since >= b.opts.LogEvery
	if b.total > 0 && b.percent() >= b.nextPct {
		if b.opts.LogEvery > 0 && since < b.opts.LogEvery/3 {
			b.nextPct = b.nextMultiple(b.percent())
		} else {
			due = true
		}
	}
	if due && (b.total <= 0 || b.step < b.total) { // Finish logs the end
		b.logLine(now, false)
	}
}

// Finish updates the given metrics, draws the final state and ends the
// line. Later calls to Add, Set and Finish do nothing.
func (b *Bar) Finish(metrics ...Metric) {
	if b.finished {
		return
	}
	now := b.opts.Now()
	b.metrics.set(metrics)
	b.rate.observe(b.step, now)
	if b.opts.Mode == Redraw {
		b.redraw(now)
		b.write("\n")
	} else {
		b.logLine(now, true)
	}
	b.finished = true
}

// Step returns the current step.
func (b *Bar) Step() int { return b.step }

// Rate returns the smoothed steps per second, and false before the
// first measurement.
func (b *Bar) Rate() (float64, bool) { return b.rate.perSec, b.rate.known }

// ETA returns the estimated time left, and false when it is unknown
// (no rate yet, or no total).
func (b *Bar) ETA() (time.Duration, bool) {
	if b.total <= 0 {
		return 0, false
	}
	return b.rate.eta(b.total - b.step)
}

// Err returns the first error writing to the writer, if any.
func (b *Bar) Err() error { return b.err }

// percent returns the share of the work done, 0 to 100 (more when past
// the total), or 0 when the total is unknown.
func (b *Bar) percent() float64 {
	if b.total <= 0 {
		return 0
	}
	return 100 * float64(b.step) / float64(b.total)
}

// nextMultiple returns the first multiple of LogPercent above pct.
func (b *Bar) nextMultiple(pct float64) float64 {
	if b.opts.LogPercent <= 0 {
		return math.Inf(1)
	}
	return (math.Floor(pct/b.opts.LogPercent+1e-9) + 1) * b.opts.LogPercent
}

// redraw rewrites the terminal line.
func (b *Bar) redraw(now time.Time) {
	b.write("\r" + b.line(now, true) + "\x1b[K")
	b.lastDraw, b.drawn = now, true
}

// logLine prints one log line.
func (b *Bar) logLine(now time.Time, final bool) {
	s := b.line(now, false)
	if final {
		s += " done"
	}
	b.write(s + "\n")
	b.lastDraw = now
	b.nextPct = b.nextMultiple(b.percent())
}

func (b *Bar) write(s string) {
	if b.err != nil {
		return
	}
	_, b.err = io.WriteString(b.w, s)
}
