// Command selfsup-contrastive serves the contrastive method family
// (align_uniform, debiased, flatnce, hardneg, infonce, nce) as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/contrastive"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(contrastive.Constructors()...) }
