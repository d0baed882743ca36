package ref

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A pull fetches the largest blobs first: with four platforms' configs and
// layers listed config, layer, config, layer..., the layers of every platform
// start before any config, so no layer waits behind small blobs for a slot.
func TestFetchOrderLargestFirst(t *testing.T) {
	var list []pullBlob
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le"} {
		list = append(list,
			pullBlob{desc: v1.Descriptor{Size: 600}, name: "config", platform: p},
			pullBlob{desc: v1.Descriptor{Size: 48 << 20}, name: "layer 1/2", platform: p},
			pullBlob{desc: v1.Descriptor{Size: 1 << 20}, name: "layer 2/2", platform: p})
	}
	got := fetchOrder(list)
	if len(got) != len(list) {
		t.Fatalf("fetchOrder returned %d blobs, want %d", len(got), len(list))
	}
	for i, b := range got {
		var want string
		switch {
		case i < 4:
			want = "layer 1/2"
		case i < 8:
			want = "layer 2/2"
		default:
			want = "config"
		}
		if b.name != want {
			t.Errorf("blob %d fetched = %s %s, want a %s", i, b.platform, b.name, want)
		}
	}
	// Equal sizes keep manifest order.
	if got[0].platform != "linux/amd64" || got[3].platform != "linux/ppc64le" {
		t.Errorf("the first layers in order %s..%s, want manifest order amd64..ppc64le", got[0].platform, got[3].platform)
	}
	if list[0].name != "config" {
		t.Errorf("fetchOrder changed its argument")
	}
}
