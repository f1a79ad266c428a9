package data

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Size is an image size in pixels, height by width.
type Size struct{ H, W int }

// FolderOptions says how LoadFolder reads a folder of images.
// The zero value keeps each image's size (all must then share one) and
// loads 3 channels.
type FolderOptions struct {
	// Size is the H×W every image is resized to (stretched, not cropped,
	// with a Catmull-Rom filter). Zero keeps the images' own size, which
	// must then be the same for all.
	Size Size
	// Channels is 1 (grayscale, ITU-R 601 luma) or 3 (RGB; gray images
	// are copied to all three). Zero means 3.
	Channels int
	// Name names the data set; empty means the folder's base name.
	Name string
	// Workers bounds the images decoded at once; zero means GOMAXPROCS.
	Workers int
}

// LoadFolder loads the PNG and JPEG images under dir.
//
// If dir has subfolders with images in them, each subfolder is a class:
// class ids follow the sorted subfolder names, and every image below a
// subfolder (at any depth) gets its id. Otherwise dir is flat and the
// images are unlabeled. Files and folders whose names start with "." and
// files of other types are skipped; images next to class subfolders are
// an error, since their class is unknown.
//
// Images are decoded in parallel and come out in sorted path order, so
// the same folder always gives the same data set. A file that does not
// decode is an error naming it. LoadFolder stops early when ctx ends.
func LoadFolder(ctx context.Context, dir string, opts FolderOptions) (*Dataset, error) {
	if opts.Channels == 0 {
		opts.Channels = 3
	}
	if opts.Channels != 1 && opts.Channels != 3 {
		return nil, fmt.Errorf("data: load folder %s: %d channels; use 1 (grayscale) or 3 (RGB)", dir, opts.Channels)
	}
	if opts.Size.H < 0 || opts.Size.W < 0 || (opts.Size.H == 0) != (opts.Size.W == 0) {
		return nil, fmt.Errorf("data: load folder %s: size %d×%d; give both height and width, or neither to keep the images' size", dir, opts.Size.H, opts.Size.W)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("data: load folder %s: %w", dir, err)
	}
	files, labels, classes, err := listFolder(ctx, dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("data: load folder %s: no PNG or JPEG images found; put images in it, or one subfolder of images per class", dir)
	}
	if opts.Size == (Size{}) {
		if opts.Size, err = commonSize(ctx, files); err != nil {
			return nil, fmt.Errorf("data: load folder %s: %w", dir, err)
		}
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
	}
	d := &Dataset{
		Name:    name,
		N:       len(files),
		C:       opts.Channels,
		H:       opts.Size.H,
		W:       opts.Size.W,
		Labels:  labels,
		Classes: classes,
	}
	d.Pixels = make([]uint8, d.N*d.ImageSize())
	if err := decodeAll(ctx, files, d, opts.Workers); err != nil {
		return nil, fmt.Errorf("data: load folder %s: %w", dir, err)
	}
	return d, nil
}

// listFolder finds the image files under dir in sorted order, with
// labels and class names when dir has class subfolders.
func listFolder(ctx context.Context, dir string) (files []string, labels []int, classes []string, err error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data: load folder: %w; pass a folder of PNG/JPEG images", err)
	}
	var flat []string
	for _, e := range entries {
		if hidden(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			imgs, err := walkImages(ctx, path)
			if err != nil {
				return nil, nil, nil, err
			}
			if len(imgs) > 0 {
				classes = append(classes, e.Name())
				files = append(files, imgs...)
				for range imgs {
					labels = append(labels, len(classes)-1)
				}
			}
		} else if isImage(e.Name()) {
			flat = append(flat, path)
		}
	}
	switch {
	case len(classes) == 0:
		return flat, nil, nil, nil
	case len(flat) > 0:
		return nil, nil, nil, fmt.Errorf("data: load folder %s: %d images (first %s) sit next to class subfolders %v; move them into a class subfolder or remove them",
			dir, len(flat), flat[0], classes)
	}
	return files, labels, classes, nil
}

// walkImages returns the image files below dir, at any depth, sorted.
func walkImages(ctx context.Context, dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if path != dir && hidden(e.Name()) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.IsDir() && isImage(e.Name()) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("data: load folder: %w", err)
		}
		return nil, fmt.Errorf("data: load folder: %w; check the folder's permissions", err)
	}
	slices.Sort(out) // WalkDir is lexical per folder; sort the full paths anyway.
	return out, nil
}

// hidden reports whether a file or folder name starts with a dot.
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// isImage reports whether a file name has a PNG or JPEG extension.
func isImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}
