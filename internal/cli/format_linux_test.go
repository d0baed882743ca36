//go:build linux

package cli

import (
	"strings"
	"testing"
)

// TestFormatHelpExamples runs the --format examples of images, inspect and
// diff as their help prints them, and the ones users bring from docker.
func TestFormatHelpExamples(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	digest := inspectJSON(t, root, "demo:1").Digest
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"images", "--format", `{{.Name}}:{{.Tag}} {{join .Platforms ","}}`}, "demo:1 linux/amd64,linux/arm64\n"},
		{[]string{"images", "--format", "{{.Digest}}"}, digest + "\n"},
		{[]string{"images", "--format", "{{.digest}}"}, digest + "\n"},
		{[]string{"inspect", "--format", "{{.Digest}}", "demo:1"}, digest + "\n"},
		{[]string{"inspect", "--format", `{{range .Manifests}}{{.Platform}} {{"\n"}}{{end}}`, "demo:1"}, "linux/amd64 \nlinux/arm64 \n"},
		{[]string{"diff", "--format", "{{.Identical}}", "demo:1", "demo:1"}, "true\n"},
	} {
		out, stderr, err := runCLI(t, root, tc.args...)
		if err != nil || out != tc.want {
			t.Errorf("manyarch %q = %q (%v, %s), want %q", tc.args, out, err, stderr, tc.want)
		}
	}
	_, _, err := runCLI(t, root, "images", "--format", "{{.Repository}}")
	if err == nil || !strings.Contains(err.Error(), `no field "Repository"`) || !strings.Contains(err.Error(), "the fields are digest, mediaType, name, platforms, repoDigest, size, tag") {
		t.Errorf("images --format {{.Repository}}: %v; want an error listing the fields", err)
	}
}
