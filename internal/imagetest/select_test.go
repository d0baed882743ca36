package imagetest

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	mimage "github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
)

func TestSelectEntries(t *testing.T) {
	var entries []mimage.Entry
	for _, s := range []string{"linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64"} {
		p, err := platform.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, mimage.Entry{Platform: p})
	}
	want := []specs.Platform{
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "arm", Variant: "v5"}, // --platform linux/armel
		{OS: "linux", Architecture: "arm"},                // arm means arm/v7
	}
	got, err := selectEntries(entries, want)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, platform.Format(e.Platform))
	}
	if s := strings.Join(names, " "); s != "linux/arm64 linux/arm/v5 linux/arm/v7" {
		t.Errorf("selectEntries(arm64/v8, arm/v5, arm) = %s, want linux/arm64 linux/arm/v5 linux/arm/v7", s)
	}
	if got, _ := selectEntries(entries, nil); len(got) != len(entries) {
		t.Errorf("selectEntries(nothing wanted) = %d entries, want all %d", len(got), len(entries))
	}
	_, err = selectEntries(entries, []specs.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "s390x"}})
	var npe *ref.NoPlatformError
	if !errors.As(err, &npe) || platform.Format(npe.Want) != "linux/s390x" || !strings.Contains(err.Error(), "drop it from --platform") {
		t.Fatalf("selectEntries(arm64, s390x) = %v, want a NoPlatformError for linux/s390x saying to drop it", err)
	}
	if s := strings.Join(npe.Have, ", "); s != "linux/amd64, linux/arm/v5, linux/arm/v7, linux/arm64" {
		t.Errorf("NoPlatformError.Have = %s, want the image's platforms in order", s)
	}
}
