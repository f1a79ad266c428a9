package method

import (
	"flag"
	"testing"
)

func TestParamsFlag(t *testing.T) {
	var p ParamsFlag
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&p, "set", "")
	if err := fs.Parse([]string{"--set", "temperature=0.2", "--set", "queue=true", "--set", "directions=down,up", "--set", "k=3"}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"temperature": 0.2, "queue": true, "directions": "down,up", "k": 3.0} {
		if p[k] != want {
			t.Errorf("%s = %#v, want %#v", k, p[k], want)
		}
	}
	if got := p.String(); got != "directions=down,up,k=3,queue=true,temperature=0.2" {
		t.Errorf("String() = %q", got)
	}
	if err := p.Set("novalue"); err == nil {
		t.Error("a flag without = was accepted")
	}
}
