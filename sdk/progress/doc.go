// Package progress shows how far long work has come: a bar with the
// step, steps per second (smoothed), time left, and metrics such as
// loss=0.4123.
//
// On a terminal it redraws one line in place, at most about ten times a
// second. Elsewhere (CI, log files) it prints a plain line every so many
// seconds or every so many percent, so logs stay short and readable.
//
//	bar := progress.New(os.Stderr, steps, progress.Options{Label: "pretrain"})
//	for i := range steps {
//		loss := step()
//		bar.Add(1, progress.M("loss", loss))
//	}
//	bar.Finish()
package progress
