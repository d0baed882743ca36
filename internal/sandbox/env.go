package sandbox

import "strings"

// MergeEnv returns env with one entry per variable: the last value given for
// each, in the order the variables first appear. Callers layer an image's
// environment, the emulator's and the user's, in that order.
func MergeEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
