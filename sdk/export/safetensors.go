// Package export writes a trained trunk in formats other tools load. Today
// that is safetensors (https://github.com/huggingface/safetensors): the
// encoder's parameters and buffers under their PyTorch state_dict names and
// shapes, so that the same architecture in PyTorch loads the file with
// load_state_dict(strict=True):
//
//	sd = {k: v for k, v in safetensors.torch.load_file("trunk.safetensors").items()}
//	model.load_state_dict(sd, strict=True)
//
// The package also reads such files back (LoadSafetensors) and loads one
// into an encoder (File.LoadInto). The format itself is package
// sdk/safetensors.
package export

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/backend"
	"github.com/selfsup/selfsup/sdk/encoder"
	"github.com/selfsup/selfsup/sdk/safetensors"
)

// Metadata keys written into the file's "__metadata__".
const (
	// MetaFormat is "pt": the tensors follow PyTorch conventions (the key
	// that safetensors' own PyTorch writer sets).
	MetaFormat = "format"
	// MetaArchitecture is the encoder id ("convnet-s", "resnet18", ...).
	MetaArchitecture = "selfsup.architecture"
	// MetaInChannels is the encoder's input channel count.
	MetaInChannels = "selfsup.in_channels"
)

// File is a safetensors file in memory that can be loaded into an encoder
// (LoadInto).
type File struct {
	safetensors.File
}

// Safetensors writes enc's parameters and buffers (BatchNorm running
// statistics and num_batches_tracked included) to w in the safetensors
// format, under the encoder's PyTorch state_dict names, sorted by name.
// meta is added to the file's metadata next to the architecture and input
// channel count (MetaArchitecture, MetaInChannels) and MetaFormat "pt".
func Safetensors(w io.Writer, enc encoder.Encoder, meta map[string]string) error {
	md := map[string]string{MetaFormat: "pt", MetaArchitecture: enc.Name()}
	if in, ok := inChannels(enc); ok {
		md[MetaInChannels] = strconv.FormatInt(in, 10)
	}
	for k, v := range meta {
		md[k] = v
	}
	vars := enc.VarStore().Variables()
	tensors := make(map[string]*ts.Tensor, len(vars))
	for n, v := range vars {
		tensors[n] = &v
	}
	if err := safetensors.Write(w, tensors, md); err != nil {
		return fmt.Errorf("safetensors export: %w", err)
	}
	return nil
}

// inChannels reads the input channel count from the first convolution's
// weight (dimension 1 of the first 4-d parameter in state_dict order
// conventions: "0.weight" or "conv1.weight").
func inChannels(enc encoder.Encoder) (int64, bool) {
	vars := enc.VarStore().Variables()
	for _, n := range []string{"0.weight", "conv1.weight"} {
		if v, ok := vars[n]; ok {
			if s, err := v.Size(); err == nil && len(s) == 4 {
				return s[1], true
			}
		}
	}
	return 0, false
}

// SafetensorsFile writes enc to path (see Safetensors) atomically: into a
// temporary file beside it, synced, then renamed over path.
func SafetensorsFile(path string, enc encoder.Encoder, meta map[string]string) error {
	err := safetensors.WriteFileAtomic(path, func(w io.Writer) error { return Safetensors(w, enc, meta) })
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	return nil
}

// LoadSafetensors reads a whole safetensors file (parsed strictly, see
// safetensors.Parse).
func LoadSafetensors(path string) (*File, error) {
	f, err := safetensors.ParseFile(path)
	if err != nil {
		return nil, fmt.Errorf("load safetensors: %w", err)
	}
	return &File{*f}, nil
}

// ParseSafetensors decodes a safetensors file held in b (strictly, see
// safetensors.Parse). The tensors' Data alias b.
func ParseSafetensors(b []byte) (*File, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	return &File{*f}, nil
}

// LoadInto copies every tensor of f into the encoder variable of the same
// name, as PyTorch's load_state_dict(strict=True) does: the file must hold
// exactly the encoder's variables, each with the same shape (dtypes are
// converted). Nothing is changed unless everything matches.
func (f *File) LoadInto(enc encoder.Encoder) error {
	if a, ok := f.Metadata[MetaArchitecture]; ok && a != enc.Name() {
		return fmt.Errorf("load into %s: the file holds a %s: build that encoder (encoder.New(%q, ...)) to load it", enc.Name(), a, a)
	}
	vars := enc.VarStore().Variables()
	var missing, unexpected, mismatched []string
	for n, v := range vars {
		t, ok := f.Tensors[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		if s := v.MustSize(); !slices.Equal(s, t.Shape) && !(len(s) == 0 && len(t.Shape) == 0) {
			mismatched = append(mismatched, fmt.Sprintf("%s: file %v, encoder %v", n, t.Shape, s))
		}
	}
	for n := range f.Tensors {
		if _, ok := vars[n]; !ok {
			unexpected = append(unexpected, n)
		}
	}
	if len(missing)+len(unexpected)+len(mismatched) > 0 {
		slices.Sort(missing)
		slices.Sort(unexpected)
		slices.Sort(mismatched)
		return fmt.Errorf("load into %s: the file does not match the encoder (missing %s; unexpected %s; shape mismatch %s): export it from the same architecture and input channels",
			enc.Name(), short(missing), short(unexpected), short(mismatched))
	}
	for _, n := range f.Names() {
		src, err := f.Tensors[n].ToTensor()
		if err != nil {
			return fmt.Errorf("load into %s: tensor %s: %w", enc.Name(), n, err)
		}
		v := vars[n]
		err = backend.Copy([]*ts.Tensor{&v}, []*ts.Tensor{src}) // dtype converted, outside autograd
		src.MustDrop()
		if err != nil {
			return fmt.Errorf("load into %s: tensor %s: %w", enc.Name(), n, err)
		}
	}
	return nil
}

// short lists up to five names, then a count.
func short(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 5 {
		return fmt.Sprintf("%v and %d more", names[:5], len(names)-5)
	}
	return fmt.Sprint(names)
}
