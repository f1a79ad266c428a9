package methodkit

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/selfsup/selfsup/sdk/nn"
	"github.com/selfsup/selfsup/sdk/safetensors"
)

// Method state is a safetensors file: the tensors under their names, and in
// its "__metadata__" the format version and every integer as a decimal
// string under "selfsup.int.<name>".
const (
	// stateVersionKey holds the state format's version. Version 1 was a
	// custom binary encoding; version 2 is safetensors.
	stateVersionKey = "selfsup.state"
	stateVersion    = "2"
	// stateIntPrefix starts the metadata key of each integer.
	stateIntPrefix = "selfsup.int."
)

// State is a method's checkpoint in memory: named tensors and integer
// scalars (step counts, pointers). Encode writes it as bytes.
type State struct {
	// Tensors are borrowed when encoding, and owned by the State after
	// DecodeState (free them with Drop).
	Tensors map[string]*ts.Tensor
	Ints    map[string]int64
}

// NewState returns an empty State.
func NewState() *State {
	return &State{Tensors: map[string]*ts.Tensor{}, Ints: map[string]int64{}}
}

// AddVars adds every variable of vs under prefix (borrowed handles).
func (s *State) AddVars(prefix string, vs *gnn.VarStore) {
	for name, v := range vs.Variables() {
		s.Tensors[prefix+name] = &v
	}
}

// AddTensors adds tensors under prefix (borrowed: the caller frees them
// after Encode), e.g. an optimizer's State.
func (s *State) AddTensors(prefix string, tensors map[string]*ts.Tensor) {
	for name, t := range tensors {
		s.Tensors[prefix+name] = t
	}
}

// Prefixed returns the tensors saved under prefix, keyed without it
// (borrowed from s), e.g. for an optimizer's SetState.
func (s *State) Prefixed(prefix string) map[string]*ts.Tensor {
	out := map[string]*ts.Tensor{}
	for name, t := range s.Tensors {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			out[rest] = t
		}
	}
	return out
}

// LoadVars copies the tensors saved under prefix into the variables of vs;
// every variable must be present with its shape and dtype.
func (s *State) LoadVars(prefix string, vs *gnn.VarStore) error {
	for name, v := range vs.Variables() {
		src, ok := s.Tensors[prefix+name]
		if !ok {
			return fmt.Errorf("state has no %q: it was saved by a method with a different head; set it up with the same config", prefix+name)
		}
		dst := v
		if err := nn.CopyValues(&dst, src, prefix+name); err != nil {
			return fmt.Errorf("%w: set the method up with the config it was saved with", err)
		}
	}
	return nil
}

// CheckVars checks, without changing anything, that LoadVars(prefix, vs)
// would find every variable of vs with its shape and dtype.
func (s *State) CheckVars(prefix string, vs *gnn.VarStore) error {
	for name, v := range vs.Variables() {
		src, ok := s.Tensors[prefix+name]
		if !ok {
			return fmt.Errorf("state has no %q: it was saved by a method with a different head; set it up with the same config", prefix+name)
		}
		if !slices.Equal(v.MustSize(), src.MustSize()) || v.DType() != src.DType() {
			return fmt.Errorf("variable %q: %v %v, saved %v %v; set the method up with the config it was saved with", prefix+name, v.DType(), v.MustSize(), src.DType(), src.MustSize())
		}
	}
	return nil
}

// Int returns a saved integer or an error naming it.
func (s *State) Int(name string) (int64, error) {
	v, ok := s.Ints[name]
	if !ok {
		return 0, fmt.Errorf("state has no integer %q", name)
	}
	return v, nil
}

// Tensor returns a saved tensor or an error naming it.
func (s *State) Tensor(name string) (*ts.Tensor, error) {
	v, ok := s.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("state has no tensor %q", name)
	}
	return v, nil
}

// Drop frees the tensors of a decoded State.
func (s *State) Drop() {
	for k, x := range s.Tensors {
		x.MustDrop()
		delete(s.Tensors, k)
	}
}

// Encode writes the state as safetensors bytes: the tensors (copied to the
// host) in name order, the integers and the format version in the metadata.
func (s *State) Encode() ([]byte, error) {
	meta := map[string]string{stateVersionKey: stateVersion}
	for k, v := range s.Ints {
		meta[stateIntPrefix+k] = strconv.FormatInt(v, 10)
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, s.Tensors, meta); err != nil {
		return nil, fmt.Errorf("encode method state: %w", err)
	}
	return b.Bytes(), nil
}

// DecodeState reads bytes written by State.Encode into CPU tensors that the
// returned State owns. Truncated or corrupt bytes are an error.
func DecodeState(data []byte) (*State, error) {
	f, err := safetensors.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("method state truncated or corrupt: %w", err)
	}
	switch v, ok := f.Metadata[stateVersionKey]; {
	case !ok:
		return nil, errors.New("not a selfsup method state (no format version); pass bytes written by the method's Save")
	case v != stateVersion:
		return nil, fmt.Errorf("method state format version %q, this selfsup reads %q: save it again with this version", v, stateVersion)
	}
	s := NewState()
	for k, v := range f.Metadata {
		name, ok := strings.CutPrefix(k, stateIntPrefix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("method state corrupt: integer %s: %w", name, err)
		}
		s.Ints[name] = n
	}
	if s.Tensors, err = f.ToTensors(); err != nil {
		return nil, fmt.Errorf("method state corrupt: %w", err)
	}
	return s, nil
}
