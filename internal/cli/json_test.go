//go:build linux

package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// camelKey is the one JSON key style of manyarch's output (docs/json.md).
var camelKey = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// userData are keys whose values hold names others chose (annotations,
// labels) or documents in their own schema (the OCI manifest and config).
var userData = map[string]bool{"annotations": true, "manifestAnnotations": true, "labels": true, "manifest": true, "image": true}

// checkKeys reports every key of v (recursively) that is not camelCase.
func checkKeys(t *testing.T, what, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if !camelKey.MatchString(k) {
				t.Errorf("%s: key %s%s is not camelCase", what, path, k)
			}
			if !userData[k] {
				checkKeys(t, what, path+k+".", val)
			}
		}
	case []any:
		for _, val := range x {
			checkKeys(t, what, path+"[].", val)
		}
	}
}

// TestJSONKeysCamelCase: issue #22 item 8. Every command's JSON uses
// camelCase keys; binfmt's qemu_version and probe_detail are gone.
func TestJSONKeysCamelCase(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	for _, args := range [][]string{
		{"binfmt", "status", "--no-probe", "--format", "json"},
		{"inspect", "--format", "json", "demo:1"},
		{"inspect", "--format", "json", "--platform", "linux/arm64", "demo:1"},
		{"images", "--format", "json"},
		{"version", "--format", "json"},
	} {
		out := mustRun(t, root, args...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("manyarch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		checkKeys(t, "manyarch "+strings.Join(args, " "), "", v)
	}
}
