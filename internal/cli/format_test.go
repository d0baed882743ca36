package cli

import (
	"bytes"
	"strings"
	"testing"
)

type formatItem struct {
	Name       string   `json:"name"`
	RepoDigest string   `json:"repoDigest,omitempty"`
	QEMU       string   `json:"qemu_version,omitempty"`
	Platforms  []string `json:"platforms"`
}

func TestWriteFormattedTemplates(t *testing.T) {
	items := []formatItem{{Name: "a", RepoDigest: "sha256:1", QEMU: "10.0", Platforms: []string{"linux/amd64", "linux/arm64"}}, {Name: "b"}}
	for _, tc := range []struct {
		format string
		v      any
		want   string
	}{
		// Once per item, fields as in the JSON or capitalized as docker's.
		{"{{.name}} {{.Name}}", items, "a a\nb b\n"},
		{"{{.RepoDigest}}|{{.repoDigest}}", items, "sha256:1|sha256:1\n|\n"}, // omitted when empty: still a field
		{"{{.QemuVersion}}/{{.qemu_version}}", items, "10.0/10.0\n/\n"},
		{`{{join .Platforms ","}}`, items, "linux/amd64,linux/arm64\n\n"},
		{"{{json .}}", items[1:], `{"name":"b","platforms":null}` + "\n"},
		{"{{.name}}\n", items[0], "a\n"},
		{"{{upper .name}}", items[0], "A\n"},
	} {
		var b bytes.Buffer
		done, err := writeFormatted(&b, tc.format, tc.v)
		if !done || err != nil || b.String() != tc.want {
			t.Errorf("--format %q = %q (done %v, %v), want %q", tc.format, b.String(), done, err, tc.want)
		}
	}
}

func TestWriteFormattedErrors(t *testing.T) {
	items := []formatItem{{Name: "a"}, {Name: "b"}}
	for _, tc := range []struct{ format, want string }{
		{"{{.Digest}}", `no field "Digest" (item 1 of 2); the fields are name, platforms, qemu_version, repoDigest`},
		{"{{.name", "--format: template: format:1: unclosed action"},
		{"{{index .platforms 3}}", "--format (item 1 of 2): <index .platforms 3>"},
		{"digest", `unknown --format "digest"`},
	} {
		var b bytes.Buffer
		_, err := writeFormatted(&b, tc.format, items)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--format %q: error %v, want one containing %q", tc.format, err, tc.want)
		}
		if b.Len() != 0 {
			t.Errorf("--format %q failed but wrote %q: nothing may be written unless every item formats", tc.format, b.String())
		}
		if err != nil && (strings.Contains(err.Error(), "cli.") || strings.Contains(err.Error(), "map[")) {
			t.Errorf("--format %q: error %q shows Go types to the user", tc.format, err)
		}
	}
}

type formatEntry struct {
	Platform    string            `json:"platform"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Layers      []string          `json:"layers,omitempty"`
}

type formatIndex struct {
	Name      string        `json:"name"`
	Manifests []formatEntry `json:"manifests"`
}

// Fields left out when empty are fields at every depth (a manifest without
// annotations beside one with them), and a free-form map (annotations,
// labels) prints as the image holds it, without the Go-style aliases.
func TestWriteFormattedNested(t *testing.T) {
	idx := formatIndex{Name: "i", Manifests: []formatEntry{
		{Platform: "linux/amd64", Annotations: map[string]string{"com.example.n": "1", "x": "y"}, Layers: []string{"l1"}},
		{Platform: "linux/arm64"},
	}}
	for _, tc := range []struct{ format, want string }{
		{`{{range .manifests}}{{.platform}}={{index .annotations "com.example.n"}} {{end}}`, "linux/amd64=1 linux/arm64=<no value> \n"},
		{`{{range .Manifests}}{{.Annotations}} {{len .Layers}} {{end}}`, "map[com.example.n:1 x:y] 1 map[] 0 \n"},
		{`{{json .Manifests}}`, `[{"annotations":{"com.example.n":"1","x":"y"},"layers":["l1"],"platform":"linux/amd64"},{"platform":"linux/arm64"}]` + "\n"},
	} {
		var b bytes.Buffer
		done, err := writeFormatted(&b, tc.format, idx)
		if !done || err != nil || b.String() != tc.want {
			t.Errorf("--format %q = %q (done %v, %v), want %q", tc.format, b.String(), done, err, tc.want)
		}
	}
}
