package methodkit

import (
	"errors"
	"strings"
	"testing"

	"github.com/selfsup/selfsup/sdk/method"
)

type Shared struct {
	LR float64 `param:"lr" default:"1e-3" doc:"learning rate"`
}

type testConfig struct {
	Shared
	T      float64 `param:"temperature" default:"0.5" doc:"temperature (> 0)"`
	K      int64   `param:"K" default:"4096"`
	MLP    bool    `param:"mlp" default:"true"`
	Teach  string  `param:"teacher_head"`
	Steps  int     `param:"steps" default:"3"`
	hidden int     // untagged fields are not params
}

func (c *testConfig) Validate() error {
	if c.T <= 0 {
		return errors.New("temperature must be positive")
	}
	return nil
}

func TestDefaultsAndDocs(t *testing.T) {
	p, err := Defaults(testConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := method.Params{"lr": 1e-3, "temperature": 0.5, "K": int64(4096), "mlp": true, "teacher_head": "", "steps": int64(3)}
	if len(p) != len(want) {
		t.Fatalf("defaults %v, want %v", p, want)
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("default %s = %v (%T), want %v (%T)", k, p[k], p[k], v, v)
		}
	}
	docs, _ := Docs(testConfig{})
	if docs[0].Name != "lr" || docs[1].Doc != "temperature (> 0)" || docs[2].Kind != "int" {
		t.Errorf("docs %+v", docs)
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name    string
		p       method.Params
		strict  bool
		wantErr string
		check   func(c testConfig) bool
	}{
		{"defaults", nil, true, "", func(c testConfig) bool { return c.T == 0.5 && c.K == 4096 && c.MLP && c.LR == 1e-3 && c.Steps == 3 }},
		{"json numbers", method.Params{"K": 96.0, "temperature": 0.2, "lr": 1}, true, "", func(c testConfig) bool { return c.K == 96 && c.T == 0.2 && c.LR == 1 }},
		{"go ints", method.Params{"K": 7, "steps": int64(9)}, true, "", func(c testConfig) bool { return c.K == 7 && c.Steps == 9 }},
		{"unknown key, strict", method.Params{"temprature": 0.1}, true, "unknown config key \"temprature\" (known: K, lr, mlp, steps, teacher_head, temperature)", nil},
		{"unknown key, lenient", method.Params{"queue_ptr": 3.0}, false, "", func(c testConfig) bool { return c.T == 0.5 }},
		{"fraction for an int", method.Params{"K": 1.5}, true, "not an integer", nil},
		{"string for a float", method.Params{"temperature": "hot"}, true, "is not a number", nil},
		{"number for a bool", method.Params{"mlp": 1.0}, true, "is not a bool", nil},
		{"validate", method.Params{"temperature": -1.0}, true, "temperature must be positive", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg testConfig
			err := Decode("m", c.p, &cfg, c.strict)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !c.check(cfg) {
				t.Errorf("Decode: %+v, %v", cfg, err)
			}
		})
	}
}

func TestMalformedConfigs(t *testing.T) {
	type badDefault struct {
		X int64 `param:"x" default:"one"`
	}
	type twice struct {
		A float64 `param:"a"`
		B float64 `param:"a"`
	}
	type badKind struct {
		X []int64 `param:"x"`
	}
	for name, cfg := range map[string]any{"bad default": badDefault{}, "name twice": twice{}, "unsupported kind": badKind{}, "no params": struct{}{}} {
		if _, err := Defaults(cfg); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
