package index_test

import (
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/index"
)

func FuzzParseAnnotation(f *testing.F) {
	for _, s := range []string{"a=b", "index:a=b", "manifest-descriptor:k=v", "manifest-descriptor[linux/arm/v7]:k=v", "manifest:k=v", ":=", "[:]=", "manifest-descriptor[]:k=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := index.ParseAnnotation(s)
		if err != nil {
			if !strings.Contains(err.Error(), "annotation") {
				t.Errorf("ParseAnnotation(%q) error %q does not say what it parsed", s, err)
			}
			return
		}
		if a.Key == "" {
			t.Errorf("ParseAnnotation(%q) = empty key", s)
		}
		b, err := index.ParseAnnotation(a.String())
		if err != nil || b.String() != a.String() {
			t.Errorf("ParseAnnotation(%q).String() = %q does not parse back (%v, %q)", s, a.String(), err, b.String())
		}
	})
}

func FuzzTags(f *testing.F) {
	for _, s := range []string{"v1.2.3", "1.2.3-rc.1", "0.0.0", "v01.2.3", "1.2", "latest"} {
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, tag string, semver, latest bool) {
		tags, err := index.Tags(tag, semver, latest)
		if err != nil {
			return
		}
		if len(tags) == 0 {
			t.Fatalf("Tags(%q, %v, %v) = no tags and no error", tag, semver, latest)
		}
		if semver {
			if strings.Contains(tags[0], "-") && len(tags) != 1 {
				t.Errorf("Tags(%q) = %v: a pre-release moved other tags", tag, tags)
			}
			if strings.HasPrefix(tags[0], "v") {
				t.Errorf("Tags(%q) = %v: the v prefix was kept", tag, tags)
			}
		}
	})
}
