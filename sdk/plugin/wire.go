package plugin

import (
	"fmt"
	"math"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	pb "github.com/selfsup/selfsup/proto/selfsup/v1"
	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
)

// This file converts between the SDK's types and the protocol's messages.
// Tensor data crosses as one block of little-endian bytes per tensor: one
// copy out of the tensor, one copy into a new one, no per-element work.

func dtypeToProto(d gotch.DType) (pb.DType, error) {
	switch d {
	case gotch.Float:
		return pb.DType_DTYPE_FLOAT32, nil
	case gotch.Double:
		return pb.DType_DTYPE_FLOAT64, nil
	case gotch.Int64:
		return pb.DType_DTYPE_INT64, nil
	case gotch.Uint8:
		return pb.DType_DTYPE_UINT8, nil
	}
	return pb.DType_DTYPE_UNSPECIFIED, fmt.Errorf("dtype %v cannot cross the plugin boundary; convert to float32, float64, int64 or uint8 first", d)
}

func dtypeFromProto(d pb.DType) (gotch.DType, error) {
	switch d {
	case pb.DType_DTYPE_FLOAT32:
		return gotch.Float, nil
	case pb.DType_DTYPE_FLOAT64:
		return gotch.Double, nil
	case pb.DType_DTYPE_INT64:
		return gotch.Int64, nil
	case pb.DType_DTYPE_UINT8:
		return gotch.Uint8, nil
	}
	return gotch.Invalid, fmt.Errorf("unknown wire dtype %v (a newer protocol?)", d)
}

// arena is a byte buffer reused across calls: tensors are copied into
// slices of it, each with its capacity capped so that no append moves it.
type arena struct{ buf []byte }

// reset makes room for n bytes, reusing the buffer when it is big enough.
func (a *arena) reset(n int) {
	if cap(a.buf) < n {
		a.buf = make([]byte, 0, n)
	}
	a.buf = a.buf[:0]
}

// take copies t's elements into the arena and returns their bytes.
func (a *arena) take(t *ts.Tensor) ([]byte, error) {
	n := int(t.Numel()) * int(t.DType().Size())
	start := len(a.buf)
	if cap(a.buf)-start < n { // reset was not told about t: fall back
		out, err := tensor.AppendBytes(nil, t)
		return out, err
	}
	out, err := tensor.AppendBytes(a.buf[start:start:start+n], t)
	if err != nil {
		return nil, err
	}
	a.buf = a.buf[:start+n]
	return out, nil
}

// tensorsBytes is the number of bytes the tensors occupy on the wire.
func tensorsBytes(ms ...method.Tensors) int {
	n := 0
	for _, m := range ms {
		for _, t := range m {
			if t != nil {
				n += int(t.Numel()) * int(t.DType().Size())
			}
		}
	}
	return n
}

// tensorToProto encodes t; with a nil arena its bytes get their own buffer.
func tensorToProto(t *ts.Tensor, a *arena) (*pb.Tensor, error) {
	dt, err := dtypeToProto(t.DType())
	if err != nil {
		return nil, err
	}
	shape, err := t.Size()
	if err != nil {
		return nil, err
	}
	var data []byte
	if a != nil {
		data, err = a.take(t)
	} else {
		data, err = tensor.AppendBytes(make([]byte, 0, int(t.Numel())*int(t.DType().Size())), t)
	}
	if err != nil {
		return nil, err
	}
	return &pb.Tensor{Dtype: dt, Shape: shape, Data: data}, nil
}

// tensorsToProto encodes a map of tensors, naming the one that fails.
func tensorsToProto(m method.Tensors, a *arena) (map[string]*pb.Tensor, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.Tensor, len(m))
	for k, t := range m {
		if t == nil {
			return nil, fmt.Errorf("tensor %q is nil", k)
		}
		p, err := tensorToProto(t, a)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

// tensorFromProto decodes p into a new CPU tensor, moved to dev when dev is
// not the CPU.
func tensorFromProto(p *pb.Tensor, dev gotch.Device) (*ts.Tensor, error) {
	if p == nil {
		return nil, fmt.Errorf("missing tensor")
	}
	dt, err := dtypeFromProto(p.Dtype)
	if err != nil {
		return nil, err
	}
	t, err := tensor.FromBytes(p.Data, dt, p.Shape)
	if err != nil {
		return nil, err
	}
	if dev.IsCuda() {
		moved, err := t.To(dev, true)
		if err != nil {
			return nil, fmt.Errorf("move tensor to %s: %w", tensor.DeviceName(dev), err)
		}
		return moved, nil
	}
	return t, nil
}

// tensorsFromProto decodes a map of tensors; on error it frees what it made.
func tensorsFromProto(m map[string]*pb.Tensor, dev gotch.Device) (method.Tensors, error) {
	out := make(method.Tensors, len(m))
	for k, p := range m {
		t, err := tensorFromProto(p, dev)
		if err != nil {
			out.Drop()
			return nil, fmt.Errorf("tensor %q: %w", k, err)
		}
		out[k] = t
	}
	return out, nil
}

// paramsToProto encodes method.Params. Numbers keep their kind (float64 or
// integer), lists of integers, strings or numbers (as JSON decodes them,
// []any) become typed lists.
func paramsToProto(p method.Params) (map[string]*pb.Value, error) {
	if len(p) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.Value, len(p))
	for k, v := range p {
		pv, err := valueToProto(v)
		if err != nil {
			return nil, fmt.Errorf("param %q: %w", k, err)
		}
		out[k] = pv
	}
	return out, nil
}

func valueToProto(v any) (*pb.Value, error) {
	switch x := v.(type) {
	case float64:
		return &pb.Value{Kind: &pb.Value_Number{Number: x}}, nil
	case float32:
		return &pb.Value{Kind: &pb.Value_Number{Number: float64(x)}}, nil
	case int:
		return &pb.Value{Kind: &pb.Value_Integer{Integer: int64(x)}}, nil
	case int32:
		return &pb.Value{Kind: &pb.Value_Integer{Integer: int64(x)}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_Integer{Integer: x}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_Flag{Flag: x}}, nil
	case string:
		return &pb.Value{Kind: &pb.Value_Text{Text: x}}, nil
	case []int64:
		return &pb.Value{Kind: &pb.Value_Ints{Ints: &pb.IntList{Values: x}}}, nil
	case []int:
		vs := make([]int64, len(x))
		for i, e := range x {
			vs[i] = int64(e)
		}
		return &pb.Value{Kind: &pb.Value_Ints{Ints: &pb.IntList{Values: vs}}}, nil
	case []string:
		return &pb.Value{Kind: &pb.Value_Texts{Texts: &pb.StringList{Values: x}}}, nil
	case []float64:
		return &pb.Value{Kind: &pb.Value_Numbers{Numbers: &pb.NumberList{Values: x}}}, nil
	case []any:
		return listToProto(x)
	}
	return nil, fmt.Errorf("%T is not a scalar parameter (want a number, bool, string or a list of them)", v)
}

// listToProto types a JSON list: all strings, all integral numbers, or all
// numbers.
func listToProto(x []any) (*pb.Value, error) {
	var texts []string
	var nums []float64
	for i, e := range x {
		switch y := e.(type) {
		case string:
			texts = append(texts, y)
		case float64:
			nums = append(nums, y)
		case int:
			nums = append(nums, float64(y))
		case int64:
			nums = append(nums, float64(y))
		default:
			return nil, fmt.Errorf("list element %d is %T, want a number or a string", i, e)
		}
	}
	switch {
	case len(texts) > 0 && len(nums) > 0:
		return nil, fmt.Errorf("list mixes strings and numbers")
	case len(texts) > 0:
		return &pb.Value{Kind: &pb.Value_Texts{Texts: &pb.StringList{Values: texts}}}, nil
	}
	ints := make([]int64, len(nums))
	for i, f := range nums {
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return &pb.Value{Kind: &pb.Value_Numbers{Numbers: &pb.NumberList{Values: nums}}}, nil
		}
		ints[i] = int64(f)
	}
	return &pb.Value{Kind: &pb.Value_Ints{Ints: &pb.IntList{Values: ints}}}, nil
}

// paramsFromProto decodes params: numbers as float64, integers as int64,
// lists as []int64, []string or []float64.
func paramsFromProto(m map[string]*pb.Value) (method.Params, error) {
	out := make(method.Params, len(m))
	for k, v := range m {
		switch x := v.GetKind().(type) {
		case *pb.Value_Number:
			out[k] = x.Number
		case *pb.Value_Integer:
			out[k] = x.Integer
		case *pb.Value_Flag:
			out[k] = x.Flag
		case *pb.Value_Text:
			out[k] = x.Text
		case *pb.Value_Ints:
			out[k] = append([]int64{}, x.Ints.GetValues()...)
		case *pb.Value_Texts:
			out[k] = append([]string{}, x.Texts.GetValues()...)
		case *pb.Value_Numbers:
			out[k] = append([]float64{}, x.Numbers.GetValues()...)
		default:
			return nil, fmt.Errorf("param %q has no value (a newer protocol?)", k)
		}
	}
	return out, nil
}

func specToProto(s method.Spec) (*pb.Spec, error) {
	defaults, err := paramsToProto(s.Defaults)
	if err != nil {
		return nil, fmt.Errorf("spec %s defaults: %w", s.Name, err)
	}
	out := &pb.Spec{
		Name:            s.Name,
		PseudoLabels:    s.PseudoLabels,
		SampleIds:       s.SampleIDs,
		Modalities:      s.Modalities,
		Defaults:        defaults,
		Docs:            s.Docs,
		Pass:            string(s.Pass),
		BatchNormSplits: int64(s.BatchNormSplits),
	}
	for _, v := range s.Views {
		pv := &pb.View{Name: v.Name, Recipe: v.Recipe, Size: int64(v.Size), Online: v.Online, Target: v.Target, Modality: v.Modality}
		if g := v.Grid; g != nil {
			pv.Grid = &pb.Grid{Patch: int64(g.Patch), Stride: int64(g.Stride), PatchRecipe: g.PatchRecipe}
		}
		out.Views = append(out.Views, pv)
	}
	if t := s.Target; t != nil {
		out.Target = &pb.Target{Momentum: t.Momentum, Schedule: string(t.Schedule), FinalMomentum: t.FinalMomentum, Inference: t.Inference, Shuffle: t.Shuffle}
	}
	for _, t := range s.Taps {
		out.Taps = append(out.Taps, &pb.Tap{Name: t.Name, Kind: string(t.Kind), Layers: t.Layers, Patches: int64(t.Patches)})
	}
	return out, nil
}

func specFromProto(p *pb.Spec) (method.Spec, error) {
	if p == nil {
		return method.Spec{}, fmt.Errorf("plugin sent no spec")
	}
	s := method.Spec{
		Name:            p.Name,
		PseudoLabels:    p.PseudoLabels,
		SampleIDs:       p.SampleIds,
		Modalities:      p.Modalities,
		Pass:            method.Pass(p.Pass),
		BatchNormSplits: int(p.BatchNormSplits),
	}
	if len(p.Docs) > 0 {
		s.Docs = p.Docs
	}
	if len(p.Defaults) > 0 {
		d, err := paramsFromProto(p.Defaults)
		if err != nil {
			return method.Spec{}, fmt.Errorf("spec %s defaults: %w", p.Name, err)
		}
		s.Defaults = d
	}
	for _, v := range p.Views {
		mv := method.View{Name: v.Name, Recipe: v.Recipe, Size: int(v.Size), Online: v.Online, Target: v.Target, Modality: v.Modality}
		if g := v.GetGrid(); g != nil {
			mv.Grid = &method.Grid{Patch: int(g.Patch), Stride: int(g.Stride), PatchRecipe: g.PatchRecipe}
		}
		s.Views = append(s.Views, mv)
	}
	if t := p.Target; t != nil {
		s.Target = &method.Target{Momentum: t.Momentum, Schedule: method.Schedule(t.Schedule), FinalMomentum: t.FinalMomentum, Inference: t.Inference, Shuffle: t.Shuffle}
	}
	for _, t := range p.Taps {
		s.Taps = append(s.Taps, method.Tap{Name: t.Name, Kind: method.TapKind(t.Kind), Layers: t.Layers, Patches: int(t.Patches)})
	}
	return s, nil
}

func shapesToProto(m map[string][]int64) map[string]*pb.Shape {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*pb.Shape, len(m))
	for k, v := range m {
		out[k] = &pb.Shape{Dims: v}
	}
	return out
}

func shapesFromProto(m map[string]*pb.Shape) map[string][]int64 {
	out := make(map[string][]int64, len(m))
	for k, v := range m {
		out[k] = append([]int64{}, v.GetDims()...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
