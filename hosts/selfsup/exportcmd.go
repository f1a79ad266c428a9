package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/sugarme/gotch"

	"github.com/selfsup/selfsup/sdk/export"
	"github.com/selfsup/selfsup/sdk/tensor"
	"github.com/selfsup/selfsup/sdk/train"
)

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "safetensors", "output format (safetensors)")
	out := fs.String("out", "", "output file (default: trunk.safetensors beside the checkpoint)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: selfsup export [--format safetensors] [--out FILE] CHECKPOINT

Writes the trunk of a pre-training checkpoint with PyTorch state_dict names
and shapes (BatchNorm running statistics included), so the same
architecture in PyTorch loads it:

    from safetensors.torch import load_file
    model.load_state_dict(load_file("trunk.safetensors"), strict=True)

Flags:`)
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	log := newLogger(stderr)
	if *format != "safetensors" {
		log.Error().Str("format", *format).Msg("export: the only format is safetensors")
		return 2
	}
	ckpt := pos[0]
	path := *out
	if path == "" {
		path = filepath.Join(filepath.Dir(ckpt), "trunk.safetensors")
	}
	tensor.Pinned(func() {
		enc, info, lerr := train.LoadTrunk(ckpt, gotch.CPU)
		if lerr != nil {
			err = lerr
			return
		}
		meta := map[string]string{
			"selfsup.method": info.Method,
			"selfsup.step":   strconv.FormatInt(info.Step, 10),
		}
		err = export.SafetensorsFile(path, enc, meta)
		if err == nil {
			fmt.Fprintf(stdout, "wrote %s: %s trunk (%s, step %d), %d tensors with PyTorch state_dict names\n",
				path, info.Encoder, info.Method, info.Step, len(enc.VarStore().Variables()))
			fmt.Fprintf(stdout, "load it in PyTorch with: model.load_state_dict(safetensors.torch.load_file(%q), strict=True)\n", path)
		}
	})
	if err != nil {
		log.Error().Err(err).Msg("export")
		return 1
	}
	return 0
}
