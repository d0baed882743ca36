//go:build linux

package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/attest"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sbom"
	"github.com/manyarch/manyarch/internal/testutil"
)

func TestParseAttest(t *testing.T) {
	for _, tt := range []struct {
		sbom, prov string
		attests    []string
		want       Attest
		err        string
	}{
		{"", "", nil, Attest{}, ""},
		{"true", "true", nil, Attest{SBOM: true, Provenance: attest.ModeMin}, ""},
		{"false", "mode=max", nil, Attest{Provenance: attest.ModeMax}, ""},
		{"", "", []string{"type=sbom", "type=provenance,mode=max"}, Attest{SBOM: true, Provenance: attest.ModeMax}, ""},
		{"true", "true", []string{"type=sbom,disabled=true", "type=provenance,disabled=true"}, Attest{}, ""},
		{"", "mode=full", nil, Attest{}, "--provenance=mode=full: mode=full: use mode=min or mode=max"},
		{"", "", []string{"type=vex"}, Attest{}, `unknown attestation type "vex"`},
		{"generator=docker/scout-sbom-indexer", "", nil, Attest{}, "type=sbom has no generator="},
		{"", "", []string{"type=provenance,version=v0.2"}, Attest{}, "SLSA provenance v1 only"},
	} {
		got, err := ParseAttest(tt.sbom, tt.prov, tt.attests)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseAttest(%q, %q, %q) = %v, want an error containing %q", tt.sbom, tt.prov, tt.attests, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAttest(%q, %q, %q) = %+v, %v, want %+v", tt.sbom, tt.prov, tt.attests, got, err, tt.want)
		}
	}
}

// TestBuildAttestations is issue #21's first done-when: a build for
// linux/amd64, linux/arm64 and linux/arm/v7 with --sbom and --provenance
// pushed to a registry gives an index with one attestation manifest per
// platform, stored as BuildKit stores them; each SBOM lists examples/hello
// (the fixture is examples/hello cross-compiled as its Dockerfile does)
// and the Go standard library at the exact version that built it; each
// provenance names the base images with their digests, the ADD URL with
// its checksum, the build argument (mode=max) but never the secret, and
// which RUN steps ran under which emulator.
func TestBuildAttestations(t *testing.T) { // long: the done-when as one story: build, push, read each attestation back
	env := e2eEnv(t)
	testutil.RequireCommand(t, "docker-registry", "docker-registry")
	ctx := context.Background()
	f := testutil.RequireFixtures(t)
	src, _ := ref.Parse("oci-archive:" + f.Hello)
	a, err := ref.Read(ctx, env, src)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := ref.Parse("fixtures/hello:1.0")
	if _, err := ref.Write(ctx, env, dst, a); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("data\n")) }))
	defer srv.Close()
	dataSum := sha256.Sum256([]byte("data\n"))
	dir := t.TempDir()
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("s3cr3t-never-attested"), 0o600); err != nil {
		t.Fatal(err)
	}
	df := "FROM fixtures/busybox:1.35\n" +
		"COPY --from=fixtures/hello:1.0 /hello /usr/local/bin/hello\n" +
		"ADD " + srv.URL + "/data.txt /data.txt\n" +
		"ARG GREETING\n" +
		"RUN --mount=type=secret,id=token echo $GREETING > /greeting\n"
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	tag := reg.Ref("att/hello:1")
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: dir,
		Platforms: parsePlatforms(t, "linux/amd64", "linux/arm64", "linux/arm/v7"),
		BuildArgs: map[string]string{"GREETING": "hi"}, Tags: []string{tag}, Push: true,
		Secrets: []Output{{Attrs: map[string]string{"id": "token", "src": secret}}},
		Attest:  Attest{SBOM: true, Provenance: attest.ModeMax, BuilderVersion: "test"}}
	res, err := NewNative(NativeOptions{Env: env}).Build(ctx, req)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	r, _ := ref.Parse("docker://" + tag)
	pushed, err := ref.Read(ctx, env, r)
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := pushed.(v1.ImageIndex)
	if !ok {
		t.Fatalf("pushed %T, want an index", pushed)
	}
	im, _ := idx.IndexManifest()
	entries, err := image.Entries(ctx, idx)
	if err != nil || len(entries) != 3 || len(im.Manifests) != 6 {
		t.Fatalf("index has %d manifests, %d runnable (%v); want 3 images and 3 attestation manifests", len(im.Manifests), len(entries), err)
	}
	for _, d := range im.Manifests[3:] {
		if d.Platform == nil || d.Platform.OS != "unknown" || d.Platform.Architecture != "unknown" || !image.IsAttestation(d) {
			t.Errorf("attestation descriptor %+v, want platform unknown/unknown and the attestation-manifest annotation", d)
		}
	}
	atts, err := attest.Read(ctx, idx)
	if err != nil || len(atts) != 3 {
		t.Fatalf("attest.Read = %d, %v; want 3", len(atts), err)
	}
	goVersion := sbom.GoVersion(runtime.Version()) // fixtures are built with this toolchain
	bases := map[string]string{}
	for _, name := range []string{"fixtures/busybox:1.35", "fixtures/hello:1.0"} {
		nr, _ := ref.Parse(name)
		a, err := ref.Read(ctx, env, nr)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := image.Entries(ctx, a)
		for _, e := range es {
			bases[attest.DockerPURL(name, e.Platform)] = e.Descriptor.Digest.Hex
		}
	}
	for i, at := range atts {
		pr := res.Platforms[i]
		pf := platform.Format(pr.Platform)
		if at.Describes != entries[i].Descriptor.Digest || at.Describes != pr.Manifest.Digest {
			t.Errorf("%s: attestation describes %s, want %s", pf, at.Describes, pr.Manifest.Digest)
		}
		if len(at.Statements) != 2 || at.Statements[0].PredicateType != attest.PredicateSPDX || at.Statements[1].PredicateType != attest.PredicateSLSA1 {
			t.Fatalf("%s: statements %+v, want an SPDX SBOM and SLSA v1 provenance", pf, at.Statements)
		}
		spdx := string(at.Statements[0].Predicate)
		for _, want := range []string{`"referenceLocator":"pkg:golang/stdlib@` + goVersion + `"`, `"name":"stdlib"`} {
			if !strings.Contains(spdx, want) {
				t.Errorf("%s: SBOM lacks %s:\n%s", pf, want, spdx)
			}
		}
		if !strings.Contains(spdx, `"referenceLocator":"pkg:golang/github.com/manyarch/manyarch`) && !strings.Contains(spdx, `"referenceLocator":"pkg:golang/command-line-arguments`) {
			t.Errorf("%s: SBOM lacks the hello binary's main module:\n%s", pf, spdx)
		}
		var prov struct {
			BuildDefinition struct {
				ExternalParameters struct {
					Request struct {
						Args map[string]string `json:"args"`
					} `json:"request"`
				} `json:"externalParameters"`
				InternalParameters struct {
					TargetPlatform string        `json:"targetPlatform"`
					EmulatedSteps  []attest.Step `json:"emulatedSteps"`
				} `json:"internalParameters"`
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
		}
		raw := string(at.Statements[1].Predicate)
		if err := json.Unmarshal(at.Statements[1].Predicate, &prov); err != nil {
			t.Fatal(err)
		}
		deps := map[string]string{}
		for _, d := range prov.BuildDefinition.ResolvedDependencies {
			deps[d.URI] = d.Digest["sha256"]
		}
		for _, name := range []string{"fixtures/busybox:1.35", "fixtures/hello:1.0"} {
			u := attest.DockerPURL(name, pr.Platform)
			if deps[u] == "" || deps[u] != bases[u] {
				t.Errorf("%s: provenance material %s = %q, want the base's digest %s", pf, u, deps[u], bases[u])
			}
		}
		if deps[srv.URL+"/data.txt"] != hex.EncodeToString(dataSum[:]) {
			t.Errorf("%s: provenance material for the ADD URL = %q, want its sha256", pf, deps[srv.URL+"/data.txt"])
		}
		if prov.BuildDefinition.ExternalParameters.Request.Args["build-arg:GREETING"] != "hi" || prov.BuildDefinition.InternalParameters.TargetPlatform != pf {
			t.Errorf("%s: provenance request %+v, target %s", pf, prov.BuildDefinition.ExternalParameters.Request, prov.BuildDefinition.InternalParameters.TargetPlatform)
		}
		emulated := len(prov.BuildDefinition.InternalParameters.EmulatedSteps) > 0
		if want := pr.Platform.Architecture != runtime.GOARCH; emulated != want {
			t.Errorf("%s: emulated steps %+v, want some: %v", pf, prov.BuildDefinition.InternalParameters.EmulatedSteps, want)
		} else if emulated && !strings.Contains(prov.BuildDefinition.InternalParameters.EmulatedSteps[0].Emulator, "qemu") {
			t.Errorf("%s: emulator %q, want it named", pf, prov.BuildDefinition.InternalParameters.EmulatedSteps[0].Emulator)
		}
		for _, s := range at.Statements {
			if strings.Contains(string(s.Predicate), "s3cr3t") {
				t.Errorf("%s: a statement holds the secret:\n%s", pf, raw)
			}
		}
	}
}
