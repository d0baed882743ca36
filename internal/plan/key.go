package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// keyVersion changes whenever what goes into a key changes, so that caches
// written by older versions are never matched.
const keyVersion = "manyarch-plan-v1"

// HashKey is the hex SHA-256 of the parts, each length-prefixed so that no
// two different lists of parts hash alike. Step and stage keys are made with
// it; the executor derives its cache keys from them with it too.
func HashKey(parts ...string) string {
	h := sha256.New()
	h.Write([]byte(keyVersion))
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":"))
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PlatformKey is the form of a platform that goes into keys: normalized by
// platform.Normalize (linux/armel is linux/arm/v5) and formatted with its OS
// version. The executor's cache keys use it too.
func PlatformKey(p specs.Platform) string { return platforms.FormatAll(platform.Normalize(p)) }

// configDigest is the digest of the canonical JSON of a base image config.
func configDigest(c *v1.ConfigFile) string {
	return HashKey(jsonString(c))
}

// jsonString marshals v; the types marshalled here cannot fail to marshal.
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "!" + err.Error()
	}
	return string(b)
}

// MarshalJSON writes a Source with the stage's Key in place of the stage,
// which is what keys and identities need.
func (s Source) MarshalJSON() ([]byte, error) {
	out := struct {
		Kind     string `json:"kind"`
		Stage    string `json:"stage,omitempty"`
		Context  string `json:"context,omitempty"`
		Image    string `json:"image,omitempty"`
		Platform string `json:"platform,omitempty"`
		Config   string `json:"config,omitempty"`
	}{Kind: s.Kind.String(), Context: s.Context, Image: s.Image}
	if s.Stage != nil {
		out.Stage = s.Stage.Key
	}
	if s.Kind == SourceImage {
		out.Platform = PlatformKey(s.Platform)
		if s.Config != nil {
			out.Config = configDigest(s.Config)
		}
	}
	return json.Marshal(out)
}

// stepKey computes a step's Key from its parent and everything the step's
// result depends on besides file content.
func (d *dispatcher) stepKey(s *Step, extra any) string {
	if r, ok := extra.(*RunStep); ok {
		c := *r
		c.ProxyEnv = nil // not part of the cache key, as in BuildKit
		extra = &c
	}
	config := ""
	if s.Kind == StepConfig {
		config = jsonString(d.n.config) + strconv.FormatInt(int64(d.out.HealthcheckStartInterval), 10)
	}
	return HashKey(
		d.parentKey,
		s.Kind.String(),
		s.History.CreatedBy,
		jsonString(extra),
		jsonString(s.Env),
		jsonString(s.Args),
		jsonString(s.Shell),
		s.WorkDir,
		s.User,
		PlatformKey(s.Platform),
		config,
	)
}
