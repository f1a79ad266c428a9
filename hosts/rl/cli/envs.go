package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/selfsup/selfsup/envs"
)

func runEnvs(_ context.Context, a *app, args []string) error {
	fs := newFlags(a, "envs", "[--json]")
	asJSON := fs.Bool("json", false, "print the specs as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	specs := envs.Specs()
	if *asJSON {
		type row struct {
			envs.Spec
			Actions int `json:"actions"`
			State   int `json:"state_size"`
		}
		rows := make([]row, 0, len(specs))
		for _, s := range specs {
			rows = append(rows, row{s, actions(s.ID), stateSize(s)})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACTIONS\tSTATE\tSTEP\tSTEPS\tDESCRIPTION")
	for _, s := range specs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%gs\t%d\t%s\n", s.ID, actions(s.ID), stateSize(s), s.ControlDt, s.MaxEpisodeSteps, s.Description)
	}
	return tw.Flush()
}

func actions(id string) int {
	e, err := envs.Make(id)
	if err != nil {
		return 0
	}
	return e.ActionSpace().Size()
}

func stateSize(s envs.Spec) int {
	n := 0
	for _, k := range s.StateKeys {
		n += k.Size
	}
	return n
}
