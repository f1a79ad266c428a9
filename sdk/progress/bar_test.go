package progress

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// clock is a fake clock that tests move by hand.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRateAndETA(t *testing.T) {
	tests := []struct {
		name     string
		total    int
		start    int
		every    time.Duration // time per update
		perStep  int           // steps per update
		updates  int
		wantRate float64
		wantETA  time.Duration
	}{
		{"10 steps/s", 1000, 0, time.Second, 10, 10, 10, 90 * time.Second},
		{"slow steps", 100, 0, 800 * time.Millisecond, 1, 20, 1.25, 64 * time.Second},
		{"fast steps", 100000, 0, time.Millisecond, 1, 5000, 1000, 95 * time.Second},
		{"resumed", 1000, 500, time.Second, 5, 10, 5, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			b := New(&bytes.Buffer{}, tt.total, Options{Mode: Log, Start: tt.start, Now: c.now})
			if _, ok := b.Rate(); ok {
				t.Fatal("rate known before any step")
			}
			for range tt.updates {
				c.advance(tt.every)
				b.Add(tt.perStep)
			}
			r, ok := b.Rate()
			if !ok || math.Abs(r-tt.wantRate) > 1e-6*tt.wantRate {
				t.Errorf("rate %v (known %v), want %v", r, ok, tt.wantRate)
			}
			eta, ok := b.ETA()
			if !ok || (eta-tt.wantETA).Abs() > time.Millisecond {
				t.Errorf("ETA %v (known %v), want %v", eta, ok, tt.wantETA)
			}
		})
	}
}

func TestRateSmoothing(t *testing.T) {
	c := newClock()
	b := New(&bytes.Buffer{}, 0, Options{Mode: Log, RateWindow: 10 * time.Second, Now: c.now})
	// 20 s at 10 steps/s, then the work slows to 2 steps/s.
	for range 20 {
		c.advance(time.Second)
		b.Add(10)
	}
	c.advance(time.Second)
	b.Add(2)
	r, _ := b.Rate()
	// One second pulls the average 1-exp(-1/10) ≈ 9.5% of the way to 2.
	want := 10 + (1-math.Exp(-0.1))*(2-10)
	if math.Abs(r-want) > 1e-9 {
		t.Errorf("rate after slowing %v, want %v", r, want)
	}
	for range 60 {
		c.advance(time.Second)
		b.Add(2)
	}
	if r, _ := b.Rate(); math.Abs(r-2) > 0.05 {
		t.Errorf("rate a minute after slowing %v, want about 2", r)
	}
	if _, ok := b.ETA(); ok {
		t.Error("ETA known without a total")
	}
}

func TestLogCadence(t *testing.T) {
	tests := []struct {
		name      string
		total     int
		every     time.Duration // time per step
		opts      Options
		wantLines int // including the final line
	}{
		// 100 steps of 1 s: a line per 10% (every 10 s); the 30 s rule never fires.
		{"percent", 100, time.Second, Options{}, 9 + 1},
		// 1000 steps of 1 s: lines at 30 s, 60 s, 90 s, 100 s (10%), 130 s, ...
		// That is 3 time lines per 10% then the percent line: 4 × 10 - 1 (no line at 100%) + final.
		{"time and percent", 1000, time.Second, Options{}, 4*10 - 1 + 1},
		{"time only", 1000, time.Second, Options{LogPercent: -1, LogEvery: 100 * time.Second}, 9 + 1},
		{"percent only", 1000, time.Second, Options{LogEvery: -1, LogPercent: 25}, 3 + 1},
		{"unknown total", 0, time.Second, Options{LogEvery: time.Minute}, 0 /* set below */},
		{"fast steps", 100000, time.Millisecond, Options{}, 9 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			var out bytes.Buffer
			opts := tt.opts
			opts.Mode, opts.Now, opts.Label = Log, c.now, "train"
			b := New(&out, tt.total, opts)
			steps := tt.total
			want := tt.wantLines
			if tt.total == 0 {
				steps, want = 600, 10+1 // 600 s: a line a minute
			}
			for range steps {
				c.advance(tt.every)
				b.Add(1, M("loss", 0.5))
			}
			b.Finish()
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != want {
				t.Errorf("%d lines, want %d:\n%s", len(lines), want, out.String())
			}
			if strings.Contains(out.String(), "\r") {
				t.Error("log output has a carriage return")
			}
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "train ") || !strings.HasSuffix(last, "done") || !strings.Contains(last, "loss=0.5") {
				t.Errorf("last line %q, want the label, loss=0.5 and done", last)
			}
		})
	}
}

func TestRedraw(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	b := New(&out, 1000, Options{Mode: Redraw, Now: c.now, Label: "pretrain"})
	// 1000 steps over 10 s: a redraw at most every 100 ms.
	for range 1000 {
		c.advance(10 * time.Millisecond)
		b.Add(1, M("loss", 0.4123))
	}
	b.Finish()
	s := out.String()
	draws := strings.Count(s, "\r")
	if draws < 90 || draws > 102 {
		t.Errorf("%d redraws in 10 s, want about 100 (10 a second)", draws)
	}
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("want exactly one newline, at the end; got %d", strings.Count(s, "\n"))
	}
	last := s[strings.LastIndex(s, "\r")+1:]
	for _, want := range []string{"pretrain", "100%", "[========================]", "1000/1000", "100.00 step/s", "loss=0.4123"} {
		if !strings.Contains(last, want) {
			t.Errorf("last frame %q lacks %q", last, want)
		}
	}
}

func TestLineFormat(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	b := New(&out, 100, Options{Mode: Log, Now: c.now, LogPercent: 50, LogEvery: -1, Unit: "batch"})
	for range 50 {
		c.advance(2 * time.Second) // slow: shown as seconds per batch
		b.Add(1, M("loss", 1.23456), M("lr", 0.001))
	}
	want := "50/100 (50%)  2.00 s/batch  elapsed 1m40s  ETA 1m40s  loss=1.235  lr=0.001\n"
	if out.String() != want {
		t.Errorf("line\n%q\nwant\n%q", out.String(), want)
	}
}

func TestFormatHelpers(t *testing.T) {
	durations := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {1499 * time.Millisecond, "1s"}, {65 * time.Second, "1m05s"},
		{3*time.Hour + 2*time.Minute + 9*time.Second, "3h02m"},
	}
	for _, tt := range durations {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	bars := []struct {
		pct  float64
		want string
	}{
		{0, "[    ]"}, {50, "[==> ]"}, {99, "[===>]"}, {100, "[====]"}, {150, "[====]"},
	}
	for _, tt := range bars {
		if got := drawBar(tt.pct, 4); got != tt.want {
			t.Errorf("drawBar(%v, 4) = %q, want %q", tt.pct, got, tt.want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("disk full")
}

func TestWriteError(t *testing.T) {
	c := newClock()
	w := &failWriter{}
	b := New(w, 10, Options{Mode: Redraw, Now: c.now})
	for range 10 {
		c.advance(time.Second)
		b.Add(1)
	}
	b.Finish()
	if b.Err() == nil || w.n != 1 {
		t.Errorf("Err() = %v after %d writes, want the first error and no retries", b.Err(), w.n)
	}
}

func TestAutoModeOnBuffer(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := New(&out, 10, Options{Now: c.now})
	c.advance(time.Second)
	b.Add(10)
	b.Finish()
	if strings.Contains(out.String(), "\r") {
		t.Errorf("a buffer is not a terminal, want log lines; got %q", out.String())
	}
}

// stampWriter records the fake time of every write.
type stampWriter struct {
	c     *clock
	times []time.Time
}

func (w *stampWriter) Write(p []byte) (int, error) {
	w.times = append(w.times, w.c.now())
	return len(p), nil
}

func TestLogLinesNotBunched(t *testing.T) {
	c := newClock()
	w := &stampWriter{c: c}
	// 2000 steps of 0.81 s (27 min): lines every 30 s, and 10% marks
	// that fall just after a time line are passed over.
	b := New(w, 2000, Options{Mode: Log, Now: c.now})
	for range 2000 {
		c.advance(810 * time.Millisecond)
		b.Add(1)
	}
	for i := 1; i < len(w.times)-1; i++ { // the final line may come any time
		if gap := w.times[i].Sub(w.times[i-1]); gap < 10*time.Second {
			t.Errorf("lines %d and %d only %v apart", i-1, i, gap)
		}
	}
	if n := len(w.times); n < 50 || n > 70 {
		t.Errorf("%d lines for 27 minutes, want about one per 30 s", n)
	}
}
