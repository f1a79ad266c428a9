package progress

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
)

// Mode says how a Bar writes.
type Mode int

// The modes.
const (
	// Auto redraws in place when the writer is a terminal, else logs.
	Auto Mode = iota
	// Redraw rewrites one line in place with a carriage return.
	Redraw
	// Log prints a full line now and then.
	Log
)

// Options tune a Bar. The zero value suits most work.
type Options struct {
	// Label starts every line, e.g. "pretrain" or "epoch 3".
	Label string
	// Unit names one step in the rate, e.g. "step" (the default), "img".
	Unit string
	// Mode picks redrawing or logging; Auto decides by the writer.
	Mode Mode
	// Start is the step the work starts from, e.g. when resuming.
	Start int
	// RedrawEvery is the least time between redraws; zero means 100ms.
	RedrawEvery time.Duration
	// LogEvery is the most time between log lines; zero means 30s,
	// negative means no time-based lines.
	LogEvery time.Duration
	// LogPercent prints a log line each time the work crosses a multiple
	// of this many percent; zero means 10, negative means none.
	LogPercent float64
	// RateWindow is the time over which the rate is averaged (the time
	// constant of an exponential average); zero means 10s.
	RateWindow time.Duration
	// BarWidth is the width of the bar drawn when redrawing; zero means 24.
	BarWidth int
	// Now tells the time; nil means time.Now. Tests pass a fake clock.
	Now func() time.Time
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults(w io.Writer) Options {
	if o.Unit == "" {
		o.Unit = "step"
	}
	if o.Mode == Auto {
		o.Mode = Log
		if isTerminal(w) {
			o.Mode = Redraw
		}
	}
	if o.RedrawEvery == 0 {
		o.RedrawEvery = 100 * time.Millisecond
	}
	if o.LogEvery == 0 {
		o.LogEvery = 30 * time.Second
	}
	if o.LogPercent == 0 {
		o.LogPercent = 10
	}
	if o.RateWindow <= 0 {
		o.RateWindow = 10 * time.Second
	}
	if o.BarWidth <= 0 {
		o.BarWidth = 24
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
