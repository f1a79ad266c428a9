package conformance

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfsup/selfsup/sdk/method"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/sugarme/gotch/ts"
)

// EnvCases names the environment variable that overrides the default
// directory of case files.
const EnvCases = "SELFSUP_CONFORMANCE_CASES"

// Tensor is a tensor as a case file stores it (FORMAT.md §3). Data holds the
// values as float64; int64 tensors hold integers (exact below 2^53).
type Tensor struct {
	Shape []int64   `json:"shape"`
	DType string    `json:"dtype,omitempty"`
	Data  []float64 `json:"data"`
}

// IsInt reports whether the tensor is an int64 tensor.
func (t Tensor) IsInt() bool { return t.DType == "int64" }

func (t Tensor) check() error {
	if int64(len(t.Data)) != tensor.Numel(t.Shape) {
		return fmt.Errorf("%d values do not fill shape %v", len(t.Data), t.Shape)
	}
	switch t.DType {
	case "", "float64", "int64":
	default:
		return fmt.Errorf("dtype %q, want float64 or int64", t.DType)
	}
	return nil
}

// Tolerance is a case's comparison tolerance (FORMAT.md §6).
type Tolerance struct {
	RTol float64 `json:"rtol"`
	ATol float64 `json:"atol"`
}

// Outputs are a case's expected results.
type Outputs struct {
	Loss  float64           `json:"loss"`
	Grads map[string]Tensor `json:"grads"`
	State map[string]Tensor `json:"state,omitempty"`
}

// Case is one golden evaluation of one method's loss.
type Case struct {
	Method    string            `json:"method"`
	Name      string            `json:"case"`
	Reference string            `json:"reference"`
	Params    method.Params     `json:"params"`
	Inputs    map[string]Tensor `json:"inputs"`
	IntInputs map[string]Tensor `json:"int_inputs,omitempty"`
	Outputs   Outputs           `json:"outputs"`
	Tolerance Tolerance         `json:"tolerance"`
	// File is the path the case was read from.
	File string `json:"-"`
}

// Detached returns params.detached (inputs that receive no gradient).
func (c Case) Detached() ([]string, error) {
	v, ok := c.Params["detached"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("params.detached is %T, want a list of input names", v)
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("params.detached[%d] is %T, want a string", i, e)
		}
		out[i] = s
	}
	return out, nil
}

// ParseCase reads one case from JSON and checks that it is well formed.
func ParseCase(data []byte) (Case, error) {
	var c Case
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("parse case: %w", err)
	}
	return c, c.validate()
}

func (c Case) validate() error {
	if c.Method == "" || c.Name == "" {
		return errors.New("case needs \"method\" and \"case\"")
	}
	if c.Params == nil {
		return fmt.Errorf("case %s: no params", c.Name)
	}
	if _, err := c.Detached(); err != nil {
		return fmt.Errorf("case %s: %w", c.Name, err)
	}
	check := func(kind string, m map[string]Tensor) error {
		for k, t := range m {
			if err := t.check(); err != nil {
				return fmt.Errorf("case %s: %s %q: %w", c.Name, kind, k, err)
			}
		}
		return nil
	}
	for kind, m := range map[string]map[string]Tensor{
		"input": c.Inputs, "int input": c.IntInputs, "grad": c.Outputs.Grads, "state": c.Outputs.State,
	} {
		if err := check(kind, m); err != nil {
			return err
		}
	}
	if c.Tolerance.RTol < 0 || c.Tolerance.ATol < 0 || math.IsNaN(c.Tolerance.RTol+c.Tolerance.ATol) {
		return fmt.Errorf("case %s: tolerance %+v must be non-negative", c.Name, c.Tolerance)
	}
	return nil
}

// LoadCases reads every *.json case under dir, sorted by method then name.
// An empty dir means $SELFSUP_CONFORMANCE_CASES when set, else the golden
// cases built into this package (a copy of the team's shared cases, so a
// clone or an installed binary tests itself).
func LoadCases(dir string) ([]Case, error) {
	if dir == "" {
		dir = os.Getenv(EnvCases)
	}
	if dir == "" {
		sub, err := fs.Sub(builtin, builtinDir)
		if err != nil {
			return nil, fmt.Errorf("built-in cases: %w", err)
		}
		return loadCases(sub, "built-in:"+builtinDir)
	}
	return loadCases(os.DirFS(dir), dir)
}

// loadCases reads every *.json case of fsys; where names its origin in
// messages and Case.File.
func loadCases(fsys fs.FS, where string) ([]Case, error) {
	files, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("list cases in %s: %w", where, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.json case files in %s: pass the conformance cases directory (--cases or %s)", where, EnvCases)
	}
	cases := make([]Case, 0, len(files))
	names := map[string]string{}
	for _, name := range files {
		f := filepath.Join(where, name)
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read case: %w", err)
		}
		c, err := ParseCase(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if prev, ok := names[c.Name]; ok {
			return nil, fmt.Errorf("case %q is in both %s and %s; case names must be unique", c.Name, prev, f)
		}
		names[c.Name] = f
		c.File = f
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool {
		if cases[i].Method != cases[j].Method {
			return cases[i].Method < cases[j].Method
		}
		return cases[i].Name < cases[j].Name
	})
	return cases, nil
}

// ForMethod returns the cases of one method.
func ForMethod(cases []Case, name string) []Case {
	var out []Case
	for _, c := range cases {
		if c.Method == name {
			out = append(out, c)
		}
	}
	return out
}

// builtin holds the golden cases, a byte-identical copy of the team's
// shared conformance/cases (TestBuiltinCasesMatchShared checks the copy
// whenever the shared folder sits beside the checkout).
//
//go:embed testdata/cases/*.json
var builtin embed.FS

const builtinDir = "testdata/cases"

// SharedDir is where the team's shared cases live relative to a checkout:
// ../shared/conformance/cases beside the repository root (the nearest
// directory above dir holding go.mod). Nothing needs it; a test compares
// the built-in copy with it when it exists.
func SharedDir(dir string) (string, error) {
	root, err := RepoRoot(dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared", "conformance", "cases"), nil
}

// RepoRoot walks up from dir to the nearest directory that holds go.mod.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find go.mod above %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s: pass the cases directory explicitly or set %s", dir, EnvCases)
		}
		d = parent
	}
}

// LossInput builds the case's inputs as float64 (and int64) CPU tensors.
// Free them with DropInput.
func (c Case) LossInput() (method.LossInput, error) {
	det, err := c.Detached()
	if err != nil {
		return method.LossInput{}, err
	}
	in := method.LossInput{Inputs: method.Tensors{}, IntInputs: method.Tensors{}, Params: c.Params, Detached: det}
	for name, t := range c.Inputs {
		x, err := tensor.FromFloat64(t.Data, t.Shape...)
		if err != nil {
			DropInput(in)
			return in, fmt.Errorf("case %s input %s: %w", c.Name, name, err)
		}
		in.Inputs[name] = x
	}
	for name, t := range c.IntInputs {
		x, err := intTensor(t)
		if err != nil {
			DropInput(in)
			return in, fmt.Errorf("case %s int input %s: %w", c.Name, name, err)
		}
		in.IntInputs[name] = x
	}
	return in, nil
}

func intTensor(t Tensor) (*ts.Tensor, error) {
	v := make([]int64, len(t.Data))
	for i, f := range t.Data {
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("value %v at %d is not an integer", f, i)
		}
		v[i] = int64(f)
	}
	return tensor.FromInt64(v, t.Shape...)
}

// DropInput frees the tensors LossInput made.
func DropInput(in method.LossInput) {
	in.Inputs.Drop()
	in.IntInputs.Drop()
}

func sortedNames(m map[string]Tensor) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
