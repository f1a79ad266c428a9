// Command selfsup-cpcv2 serves the cpcv2 method as a selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/cpcv2"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(cpcv2.Constructors()...) }
