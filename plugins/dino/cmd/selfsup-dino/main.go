// Command selfsup-dino serves the dino method family as a selfsup plugin
// binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/dino"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(dino.Constructors()...) }
