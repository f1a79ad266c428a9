package method

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParamsFlag collects repeated KEY=VALUE command-line flags (a host's
// --set) into Params: values that parse as numbers or booleans become
// float64 or bool, the rest stay strings. It implements flag.Value.
type ParamsFlag Params

// String lists the pairs, sorted.
func (p *ParamsFlag) String() string {
	if p == nil || *p == nil {
		return ""
	}
	var parts []string
	for key, v := range *p {
		parts = append(parts, fmt.Sprintf("%s=%v", key, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Set adds one KEY=VALUE pair.
func (p *ParamsFlag) Set(s string) error {
	key, val, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	if *p == nil {
		*p = ParamsFlag{}
	}
	if f, err := strconv.ParseFloat(val, 64); err == nil {
		(*p)[key] = f
	} else if b, err := strconv.ParseBool(val); err == nil {
		(*p)[key] = b
	} else {
		(*p)[key] = val
	}
	return nil
}
