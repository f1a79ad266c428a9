package translate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Evaluation is the mean of Compare over a split's pairs: the translations
// G(A) against the true B, and, for scale, A itself against B (what doing
// nothing scores).
type Evaluation struct {
	Pairs              int
	Translated, Source Scores
}

// Evaluate translates every image of dir/<split>A that has a namesake in
// dir/<split>B (a rendered paired set) at side size and scores it.
func Evaluate(ctx context.Context, g *Generator, dir, split string, size int) (Evaluation, error) {
	var ev Evaluation
	fa, err := OpenFolder(filepath.Join(dir, split+"A"))
	if err != nil {
		return ev, err
	}
	pre := Preprocess{Load: size, Crop: size}
	for _, pa := range fa.Paths {
		if err := ctx.Err(); err != nil {
			return ev, err
		}
		pb := filepath.Join(dir, split+"B", filepath.Base(pa))
		if _, err := os.Stat(pb); err != nil {
			continue // no truth for this image
		}
		ia, err := LoadImage(pa)
		if err != nil {
			return ev, err
		}
		ib, err := LoadImage(pb)
		if err != nil {
			return ev, err
		}
		va, vb := pre.Apply(ia, nil), pre.Apply(ib, nil)
		out, err := translateFloats(g, va, size)
		if err != nil {
			return ev, err
		}
		tr, err := Compare(out, vb, size)
		if err != nil {
			return ev, err
		}
		src, err := Compare(va, vb, size)
		if err != nil {
			return ev, err
		}
		ev.Pairs++
		add(&ev.Translated, tr)
		add(&ev.Source, src)
	}
	if ev.Pairs == 0 {
		return ev, fmt.Errorf("translate: %s has no %sA image with a namesake in %sB: evaluation needs paired truth (selfsup-translate data writes such sets)", dir, split, split)
	}
	for _, s := range []*Scores{&ev.Translated, &ev.Source} {
		s.L1, s.PSNR, s.SSIM = s.L1/float64(ev.Pairs), s.PSNR/float64(ev.Pairs), s.SSIM/float64(ev.Pairs)
	}
	return ev, nil
}

func add(dst *Scores, s Scores) {
	dst.L1 += s.L1
	dst.PSNR += min(s.PSNR, 100) // an exact copy would make the mean +Inf
	dst.SSIM += s.SSIM
}
