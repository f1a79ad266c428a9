package method

import (
	"fmt"
	"math"
	"sort"
)

// Params are scalar hyper-parameters as JSON carries them: float64 numbers,
// bools, strings, and lists of integers ([]int64). Integers may arrive as
// float64 (JSON) or int64/int; the accessors accept both.
type Params map[string]any

// Float returns a number parameter.
func (p Params) Float(name string) (float64, error) {
	v, ok := p[name]
	if !ok {
		return 0, fmt.Errorf("missing param %q (have %v)", name, p.names())
	}
	if x, ok := Number(v); ok {
		return x, nil
	}
	return 0, fmt.Errorf("param %q is %T, want a number", name, v)
}

// Number is v as a float64 when v is a number as JSON, YAML or Go code
// carries it (float64, float32, int, int32, int64).
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// FloatOr returns a number parameter, or def when it is absent.
func (p Params) FloatOr(name string, def float64) (float64, error) {
	if _, ok := p[name]; !ok {
		return def, nil
	}
	return p.Float(name)
}

// Int returns an integer parameter; a float64 with a fractional part is an
// error.
func (p Params) Int(name string) (int64, error) {
	f, err := p.Float(name)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("param %q = %v, want an integer", name, f)
	}
	return int64(f), nil
}

// IntOr returns an integer parameter, or def when it is absent.
func (p Params) IntOr(name string, def int64) (int64, error) {
	if _, ok := p[name]; !ok {
		return def, nil
	}
	return p.Int(name)
}

// Bool returns a boolean parameter, or def when it is absent.
func (p Params) BoolOr(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("param %q is %T, want a bool", name, v)
	}
	return b, nil
}

// StringOr returns a string parameter, or def when it is absent.
func (p Params) StringOr(name, def string) (string, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("param %q is %T, want a string", name, v)
	}
	return s, nil
}

// Ints returns a list-of-integers parameter.
func (p Params) Ints(name string) ([]int64, error) {
	v, ok := p[name]
	if !ok {
		return nil, fmt.Errorf("missing param %q (have %v)", name, p.names())
	}
	switch x := v.(type) {
	case []int64:
		return x, nil
	case []int:
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			f, ok := e.(float64)
			if !ok || f != math.Trunc(f) {
				return nil, fmt.Errorf("param %q[%d] = %v, want an integer", name, i, e)
			}
			out[i] = int64(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("param %q is %T, want a list of integers", name, v)
}

func (p Params) names() []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
