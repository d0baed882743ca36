package sign

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzCheckBundle: checkBundle reads bundles from registries, the store and
// layouts, which anyone may have written. It must not panic, and it must
// accept only a bundle whose signed statement names the digest.
func FuzzCheckBundle(f *testing.F) {
	key, err := LoadPrivateKey("testdata/cosign.key", []byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	pub := &key.PublicKey
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	good, err := makeBundle(d, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"mediaType":"` + MediaTypeBundle + `","dsseEnvelope":{"payload":"e30","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEUC"}]}}`))
	f.Add([]byte(`{"mediaType":"` + MediaTypeBundle + `","messageSignature":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := checkBundle(body, d, pub); err != nil {
			return
		}
		var b bundle
		if err := json.Unmarshal(body, &b); err != nil || b.DSSEEnvelope == nil {
			t.Fatalf("checkBundle accepted %q, which does not parse as a DSSE bundle", body)
		}
		var st statement
		if err := json.Unmarshal(b.DSSEEnvelope.Payload, &st); err != nil || st.PredicateType != PredicateCosignSign {
			t.Fatalf("checkBundle accepted %q, whose statement is not a cosign signature", body)
		}
		named := false
		for _, s := range st.Subject {
			named = named || s.Digest["sha256"] == d.Hex
		}
		if !named {
			t.Fatalf("checkBundle accepted %q, which does not name %s", body, d)
		}
	})
}
