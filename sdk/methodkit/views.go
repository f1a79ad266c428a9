package methodkit

import "strconv"

// CropNames are the view names of a multi-crop method (SwAV, DINO):
// "global1".."globalG", then "local1".."localL".
func CropNames(globals, locals int) []string {
	var out []string
	for i := range max(globals, 0) {
		out = append(out, "global"+strconv.Itoa(i+1))
	}
	for i := range max(locals, 0) {
		out = append(out, "local"+strconv.Itoa(i+1))
	}
	return out
}
