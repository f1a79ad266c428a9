// Command selfsup-pretext serves the pretext-task method family
// (rotation) as a selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/pretext"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(pretext.Constructors()...) }
