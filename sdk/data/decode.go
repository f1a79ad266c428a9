package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"os"
	"runtime"
	"sync"

	xdraw "golang.org/x/image/draw"
)

// commonSize returns the size shared by all files, read from their
// headers, or an error when they differ.
func commonSize(ctx context.Context, files []string) (Size, error) {
	var size Size
	for i, path := range files {
		if err := ctx.Err(); err != nil {
			return Size{}, err
		}
		cfg, err := decodeConfig(path)
		if err != nil {
			return Size{}, err
		}
		s := Size{H: cfg.Height, W: cfg.Width}
		if i == 0 {
			size = s
		} else if s != size {
			return Size{}, fmt.Errorf("%s is %d×%d but %s is %d×%d; set FolderOptions.Size (e.g. --size) to resize all images to one size",
				files[0], size.H, size.W, path, s.H, s.W)
		}
	}
	return size, nil
}

func decodeConfig(path string) (image.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return image.Config{}, fmt.Errorf("%s: %w; the file is corrupt or not a PNG/JPEG, fix or remove it", path, err)
	}
	return cfg, nil
}

// decodeAll decodes files[i] into image i of d, with at most workers
// (GOMAXPROCS when 0) at once. On failure it returns the error of the
// first failing file in path order, so the report does not depend on
// scheduling.
func decodeAll(ctx context.Context, files []string, d *Dataset, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(files))
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker keeps its own scratch image.
			var scratch *image.RGBA
			for i := range next {
				scratch, errs[i] = decodeInto(files[i], d, i, scratch)
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	fed := 0
feed:
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
			fed++
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if fed < len(files) {
		return fmt.Errorf("stopped after %d of %d images: %w", fed, len(files), context.Cause(parent))
	}
	return nil
}

// decodeInto decodes one file, resizes it to d's H×W into scratch (made
// or reused), and writes it channels-first into image i of d.
func decodeInto(path string, d *Dataset, i int, scratch *image.RGBA) (*image.RGBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return scratch, err
	}
	src, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return scratch, fmt.Errorf("%s: %w; the file is not a PNG or JPEG, convert or remove it", path, err)
		}
		return scratch, fmt.Errorf("%s: %w; the file is corrupt, fix or remove it", path, err)
	}
	dst := image.Rect(0, 0, d.W, d.H)
	if scratch == nil || scratch.Rect != dst {
		scratch = image.NewRGBA(dst)
	}
	if src.Bounds().Size() == dst.Size() {
		draw.Draw(scratch, dst, src, src.Bounds().Min, draw.Src)
	} else {
		xdraw.CatmullRom.Scale(scratch, dst, src, src.Bounds(), xdraw.Src, nil)
	}
	toCHW(scratch, d.C, d.Image(i))
	return scratch, nil
}

// toCHW writes an RGBA image channels-first into out: 3 channels as R,
// G, B planes, or 1 channel as ITU-R 601 luma (the weights of
// image/color.GrayModel). Transparent pixels come out as black.
func toCHW(img *image.RGBA, channels int, out []uint8) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	plane := w * h
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			r, g, b := row[4*x], row[4*x+1], row[4*x+2]
			o := y*w + x
			if channels == 1 {
				out[o] = uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
				continue
			}
			out[o], out[plane+o], out[2*plane+o] = r, g, b
		}
	}
}
