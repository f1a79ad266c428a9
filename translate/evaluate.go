package translate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/selfsup/selfsup/sdk/encoder"
)

// Evaluation is the mean of Compare over a split's pairs: the translations
// G(A) against the true B, and, for scale, A itself against B (what doing
// nothing scores); with an encoder, also the Fréchet distance and KID
// between its features of those images and of the B images (not
// Inception's FID: the features are those of an encoder pre-trained with
// this SDK).
type Evaluation struct {
	Pairs              int
	Translated, Source Scores
	// Encoder names the trunk of the feature distances ("" without).
	Encoder                  string `json:",omitempty"`
	FDTranslated, FDSource   float64
	KIDTranslated, KIDSource float64
}

// Evaluate translates every image of dir/<split>A that has a namesake in
// dir/<split>B (a rendered paired set) at side size and scores it.
func Evaluate(ctx context.Context, g *Generator, dir, split string, size int, enc encoder.Encoder) (Evaluation, error) {
	var ev Evaluation
	var outs, truths, sources [][]float32
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
		outs, truths, sources = append(outs, out), append(truths, vb), append(sources, va)
		add(&ev.Translated, tr)
		add(&ev.Source, src)
	}
	if ev.Pairs == 0 {
		return ev, fmt.Errorf("translate: %s has no %sA image with a namesake in %sB: evaluation needs paired truth (selfsup-translate data writes such sets)", dir, split, split)
	}
	for _, s := range []*Scores{&ev.Translated, &ev.Source} {
		s.L1, s.PSNR, s.SSIM = s.L1/float64(ev.Pairs), s.PSNR/float64(ev.Pairs), s.SSIM/float64(ev.Pairs)
	}
	if enc == nil {
		return ev, nil
	}
	ev.Encoder = enc.Name()
	feats := make([][][]float64, 3)
	for i, set := range [][][]float32{outs, truths, sources} {
		var err error
		if feats[i], err = Features(ctx, enc, set, size); err != nil {
			return ev, err
		}
	}
	for _, x := range []struct {
		dst  *float64
		fn   func(a, b [][]float64) (float64, error)
		from [][]float64
	}{{&ev.FDTranslated, FrechetDistance, feats[0]}, {&ev.FDSource, FrechetDistance, feats[2]}, {&ev.KIDTranslated, KID, feats[0]}, {&ev.KIDSource, KID, feats[2]}} {
		v, err := x.fn(x.from, feats[1])
		if err != nil {
			return ev, err
		}
		*x.dst = v
	}
	return ev, nil
}

func add(dst *Scores, s Scores) {
	dst.L1 += s.L1
	dst.PSNR += min(s.PSNR, 100) // an exact copy would make the mean +Inf
	dst.SSIM += s.SSIM
}
