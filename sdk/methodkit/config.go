package methodkit

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/selfsup/selfsup/sdk/method"
)

// A method's configuration is a Go struct declared once: each exported
// field with a `param` tag is a hyper-parameter, its `default` tag the
// value of Spec.Defaults, its `doc` tag the line `selfsup plugin params`
// and the README show. Fields of kind float64, int64, int, bool and string
// are supported:
//
//	type Config struct {
//		Temperature float64 `param:"temperature" default:"0.5" doc:"NT-Xent temperature (> 0)"`
//		ProjOut     int64   `param:"proj_out" default:"64" doc:"projection width"`
//	}
//
// The params of an embedded struct field without a `param` tag are the
// config's own, so configs can share a group of hyper-parameters. A config
// that implements Validator is checked after decoding.
type Validator interface {
	Validate() error
}

// ParamDoc documents one hyper-parameter of a config struct.
type ParamDoc struct {
	Name    string // the param key
	Kind    string // float, int, bool or string
	Default any    // the value Spec.Defaults holds
	Doc     string
}

type field struct {
	index []int
	doc   ParamDoc
}

// fields lists the tagged fields of the struct type of cfg (a struct or a
// pointer to one), or an error that says which tag is wrong.
func fields(t reflect.Type) ([]field, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config is a %v, want a struct with `param` tags", t)
	}
	var out []field
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("param")
		if !ok && f.Anonymous && f.IsExported() && f.Type.Kind() == reflect.Struct {
			// an embedded struct's params are the config's own (a head
			// that a family's configs share)
			sub, err := fields(f.Type)
			if err != nil {
				return nil, fmt.Errorf("config field %s: %w", f.Name, err)
			}
			for _, s := range sub {
				if seen[s.doc.Name] {
					return nil, fmt.Errorf("config field %s: param name %q used twice", f.Name, s.doc.Name)
				}
				seen[s.doc.Name] = true
				s.index = append([]int{i}, s.index...)
				out = append(out, s)
			}
			continue
		}
		if !ok || !f.IsExported() {
			continue
		}
		if name == "" || seen[name] {
			return nil, fmt.Errorf("config field %s: param name %q empty or used twice", f.Name, name)
		}
		seen[name] = true
		d := ParamDoc{Name: name, Doc: f.Tag.Get("doc")}
		def := f.Tag.Get("default")
		var err error
		switch f.Type.Kind() {
		case reflect.Float64:
			d.Kind = "float"
			d.Default, err = strconv.ParseFloat(orZero(def), 64)
		case reflect.Int64, reflect.Int:
			d.Kind = "int"
			d.Default, err = strconv.ParseInt(orZero(def), 10, 64)
		case reflect.Bool:
			d.Kind = "bool"
			d.Default, err = strconv.ParseBool(orValue(def, "false"))
		case reflect.String:
			d.Kind, d.Default = "string", def
		default:
			return nil, fmt.Errorf("config field %s (%s) is a %v; use float64, int64, int, bool or string", f.Name, name, f.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("config field %s (%s): default %q: %w", f.Name, name, def, err)
		}
		out = append(out, field{index: f.Index, doc: d})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("config %v has no field with a `param` tag", t)
	}
	return out, nil
}

func orZero(s string) string { return orValue(s, "0") }

func orValue(s, v string) string {
	if s == "" {
		return v
	}
	return s
}

// Docs lists the hyper-parameters of the config struct cfg in field order.
func Docs(cfg any) ([]ParamDoc, error) {
	fs, err := fields(reflect.TypeOf(cfg))
	if err != nil {
		return nil, err
	}
	out := make([]ParamDoc, len(fs))
	for i, f := range fs {
		out[i] = f.doc
	}
	return out, nil
}

// Defaults returns the `default` tags of the config struct cfg as the
// Params of a Spec (float64, int64, bool, string values).
func Defaults(cfg any) (method.Params, error) {
	fs, err := fields(reflect.TypeOf(cfg))
	if err != nil {
		return nil, err
	}
	p := method.Params{}
	for _, f := range fs {
		p[f.doc.Name] = f.doc.Default
	}
	return p, nil
}

// Decode sets every tagged field of *dst to its default, then to the value
// p gives it, and validates the result (Validator). With strict, a key of p
// that no field declares is an error that lists the known keys (a misspelt
// hyper-parameter never passes silently); without, such keys are left to
// the caller (a conformance case's state scalars such as queue_ptr). name
// starts the messages.
func Decode(name string, p method.Params, dst any, strict bool) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("%s: decode config into %T, want a pointer to a struct", name, dst)
	}
	fs, err := fields(v.Type())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	known := make([]string, len(fs))
	for i, f := range fs {
		known[i] = f.doc.Name
	}
	if strict {
		for k := range p {
			if !slices.Contains(known, k) {
				slices.Sort(known)
				return fmt.Errorf("%s: unknown config key %q (known: %s); fix the method config", name, k, strings.Join(known, ", "))
			}
		}
	}
	s := v.Elem()
	for _, f := range fs {
		raw, ok := p[f.doc.Name]
		if !ok {
			raw = f.doc.Default
		}
		if err := set(s.FieldByIndex(f.index), raw); err != nil {
			return fmt.Errorf("%s: param %q: %w; fix the method config", name, f.doc.Name, err)
		}
	}
	if val, ok := dst.(Validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%s: %w; fix the method config", name, err)
		}
	}
	return nil
}

// set stores raw (as JSON, YAML or Go code carry it) into the field fv.
func set(fv reflect.Value, raw any) error {
	switch fv.Kind() {
	case reflect.Float64:
		x, err := number(raw)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Int64, reflect.Int:
		x, err := number(raw)
		if err != nil {
			return err
		}
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return fmt.Errorf("%v is not an integer", raw)
		}
		fv.SetInt(int64(x))
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("%v (%T) is not a bool", raw, raw)
		}
		fv.SetBool(b)
	case reflect.String:
		str, ok := raw.(string)
		if !ok {
			return fmt.Errorf("%v (%T) is not a string", raw, raw)
		}
		fv.SetString(str)
	}
	return nil
}

func number(raw any) (float64, error) {
	if x, ok := method.Number(raw); ok {
		return x, nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", raw, raw)
}
