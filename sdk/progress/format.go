package progress

import (
	"fmt"
	"strings"
	"time"
)

// line formats the state of the bar: with a drawn bar for a terminal,
// or as plain text for a log.
//
//	pretrain  42% [=========>              ] 420/1000  3.21 step/s  ETA 3m01s  loss=0.4123
//	pretrain 420/1000 (42%)  3.21 step/s  elapsed 2m10s  ETA 3m01s  loss=0.4123
func (b *Bar) line(now time.Time, bar bool) string {
	var s strings.Builder
	if b.opts.Label != "" {
		s.WriteString(b.opts.Label)
		s.WriteByte(' ')
	}
	switch {
	case b.total > 0 && bar:
		fmt.Fprintf(&s, "%3d%% %s %d/%d", int(b.percent()), drawBar(b.percent(), b.opts.BarWidth), b.step, b.total)
	case b.total > 0:
		fmt.Fprintf(&s, "%d/%d (%d%%)", b.step, b.total, int(b.percent()))
	default:
		fmt.Fprintf(&s, "%d", b.step)
	}
	if r, ok := b.Rate(); ok {
		s.WriteString("  " + formatRate(r, b.opts.Unit))
	}
	if !bar {
		s.WriteString("  elapsed " + formatDuration(now.Sub(b.start)))
	}
	if eta, ok := b.ETA(); ok && b.step < b.total {
		s.WriteString("  ETA " + formatDuration(eta))
	}
	for _, m := range b.metrics {
		s.WriteString("  " + m.String())
	}
	return s.String()
}

// drawBar draws a bar of width characters filled to pct percent.
func drawBar(pct float64, width int) string {
	fill := int(pct / 100 * float64(width))
	fill = max(0, min(fill, width))
	head := ""
	if fill < width {
		head = ">"
		if fill == 0 {
			head = " "
		}
	}
	rest := width - fill - len(head)
	return "[" + strings.Repeat("=", fill) + head + strings.Repeat(" ", max(0, rest)) + "]"
}

// formatRate writes a rate as steps per second, or as seconds per step
// when steps are slow, since "1.25 s/step" reads better than "0.80 step/s".
func formatRate(perSec float64, unit string) string {
	switch {
	case perSec >= 1:
		return fmt.Sprintf("%.2f %s/s", perSec, unit)
	case perSec > 0:
		return fmt.Sprintf("%.2f s/%s", 1/perSec, unit)
	}
	return "0 " + unit + "/s"
}

// formatDuration writes d rounded to seconds, compactly: 12s, 3m05s, 1h02m.
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
