package ref

import (
	"errors"
	"strings"
	"testing"
)

// same reports whether a and b are the same reference in every way callers see.
func same(a, b Reference) bool {
	return a.Transport == b.Transport && a.Name == b.Name && a.Path == b.Path && a.Tag == b.Tag &&
		a.String() == b.String() && a.Registry() == b.Registry() && a.PinnedTag() == b.PinnedTag() && a.Digest() == b.Digest()
}

func TestConstructorsMatchParse(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	must := func(r Reference, err error) Reference {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name string
		got  func() (Reference, error)
		want string // what Parse reads as the same reference
	}{
		{"NewStore", func() (Reference, error) { return NewStore("busybox:1.36") }, "busybox:1.36"},
		{"NewStore digest", func() (Reference, error) { return NewStore("busybox:1.36@" + digest) }, "busybox:1.36@" + digest},
		{"NewRegistry", func() (Reference, error) { return NewRegistry("localhost:5000/hello:1.0") }, "docker://localhost:5000/hello:1.0"},
		{"NewOCILayout", func() (Reference, error) { return NewOCILayout("/tmp/layout", "v1") }, "oci:/tmp/layout:v1"},
		{"NewOCILayout no tag", func() (Reference, error) { return NewOCILayout("rel/dir", "") }, "oci:rel/dir"},
		{"NewOCIArchive", func() (Reference, error) { return NewOCIArchive("/tmp/a.tar", "") }, "oci-archive:/tmp/a.tar"},
		{"InStore", func() (Reference, error) {
			return must(Parse("docker://busybox:1.36@" + digest)).InStore()
		}, "busybox:1.36@" + digest},
		{"InStore of a store name", func() (Reference, error) { return must(Parse("x/y:2")).InStore() }, "x/y:2"},
		{"WithTag store", func() (Reference, error) { return must(Parse("localhost:5000/x/y:2")).WithTag("2.1") }, "localhost:5000/x/y:2.1"},
		{"WithTag drops the digest", func() (Reference, error) { return must(Parse("busybox@" + digest)).WithTag("1") }, "busybox:1"},
		{"WithTag registry", func() (Reference, error) { return must(Parse("docker://busybox:1")).WithTag("latest") }, "docker://busybox:latest"},
		{"WithTag oci", func() (Reference, error) { return must(Parse("oci:/tmp/l")).WithTag("1.2") }, "oci:/tmp/l:1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil {
				t.Fatalf("%s = %v", tt.name, err)
			}
			want, err := Parse(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !same(got, want) {
				t.Errorf("%s = %+v (%s), want %+v (%s), as Parse(%q)", tt.name, got, got, want, want, tt.want)
			}
		})
	}
}

func TestConstructorsRefuse(t *testing.T) {
	tests := []struct {
		name string
		f    func() (Reference, error)
	}{
		{"NewStore ..", func() (Reference, error) { return NewStore("../x:1") }},
		{"NewStore empty", func() (Reference, error) { return NewStore("") }},
		{"NewRegistry empty label", func() (Reference, error) { return NewRegistry("a..b/x:1") }},
		{"NewOCILayout no path", func() (Reference, error) { return NewOCILayout("", "t") }},
		{"NewOCILayout bad tag", func() (Reference, error) { return NewOCILayout("/tmp/l", "a/b") }},
		{"NewOCIArchive colon tag", func() (Reference, error) { return NewOCIArchive("/tmp/a.tar", "a:b") }},
		{"WithTag bad", func() (Reference, error) {
			r, _ := Parse("busybox:1")
			return r.WithTag("no/slash")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.f()
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("%s = %v, want a *SyntaxError", tt.name, err)
			}
		})
	}
	r, _ := Parse("docker-archive:/tmp/x.tar")
	if _, err := r.InStore(); err == nil {
		t.Errorf("InStore(%s) = nil error, want one", r)
	}
	if _, err := r.WithTag("1"); err == nil {
		t.Errorf("WithTag(%s) = nil error, want one", r)
	}
}
