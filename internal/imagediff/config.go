package imagediff

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// diffs collects the differences of one part of the comparison.
type diffs []Difference

// add records field when a and b differ; nil means absent.
func (d *diffs) add(field string, a, b *string) {
	if a == nil && b == nil {
		return
	}
	if a != nil && b != nil && *a == *b {
		return
	}
	*d = append(*d, Difference{Field: field, A: a, B: b})
}

// addString records a field whose empty value means absent.
func (d *diffs) addString(field, a, b string) { d.add(field, opt(a), opt(b)) }

// addMap records each key of two maps whose values differ, sorted.
func (d *diffs) addMap(field string, a, b map[string]string) {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.add(field+"["+k+"]", lookup(a, k), lookup(b, k))
	}
}

// addJSON records a field shown as JSON; a nil value is absent.
func (d *diffs) addJSON(field string, a, b any, aNil, bNil bool) {
	enc := func(v any, isNil bool) *string {
		if isNil {
			return nil
		}
		j, err := json.Marshal(v)
		if err != nil {
			return str(fmt.Sprint(v))
		}
		return str(string(j))
	}
	d.add(field, enc(a, aNil), enc(b, bNil))
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func lookup(m map[string]string, k string) *string {
	if v, ok := m[k]; ok {
		return &v
	}
	return nil
}

// formatTime is how times are shown: RFC 3339 in UTC, nil when zero.
func formatTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return str(t.UTC().Format(time.RFC3339Nano))
}

// envMap splits KEY=VALUE entries; a later entry of a key wins, as it does
// for the runtime.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

func setKeys[V any](m map[string]V) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = "present"
	}
	return out
}

// compareConfig lists the differences of two image configs field by field.
// Layer numbers and history entries count from 1.
func compareConfig(a, b *v1.ConfigFile) []Difference {
	var d diffs
	d.add("created", formatTime(a.Created.Time), formatTime(b.Created.Time))
	d.addString("author", a.Author, b.Author)
	d.addString("os", a.OS, b.OS)
	d.addString("architecture", a.Architecture, b.Architecture)
	d.addString("variant", a.Variant, b.Variant)
	d.addString("os.version", a.OSVersion, b.OSVersion)
	d.addJSON("os.features", a.OSFeatures, b.OSFeatures, a.OSFeatures == nil, b.OSFeatures == nil)

	ca, cb := a.Config, b.Config
	d.addJSON("entrypoint", ca.Entrypoint, cb.Entrypoint, ca.Entrypoint == nil, cb.Entrypoint == nil)
	d.addJSON("cmd", ca.Cmd, cb.Cmd, ca.Cmd == nil, cb.Cmd == nil)
	n := len(d)
	d.addMap("env", envMap(ca.Env), envMap(cb.Env))
	if len(d) == n && !slices.Equal(ca.Env, cb.Env) {
		// Same variables, in another order or repeated.
		d.addJSON("env", ca.Env, cb.Env, ca.Env == nil, cb.Env == nil)
	}
	d.addString("workdir", ca.WorkingDir, cb.WorkingDir)
	d.addString("user", ca.User, cb.User)
	d.addMap("labels", ca.Labels, cb.Labels)
	d.addMap("exposedPorts", setKeys(ca.ExposedPorts), setKeys(cb.ExposedPorts))
	d.addMap("volumes", setKeys(ca.Volumes), setKeys(cb.Volumes))
	d.addString("stopSignal", ca.StopSignal, cb.StopSignal)
	d.addJSON("shell", ca.Shell, cb.Shell, ca.Shell == nil, cb.Shell == nil)
	d.addJSON("onbuild", ca.OnBuild, cb.OnBuild, ca.OnBuild == nil, cb.OnBuild == nil)
	d.addJSON("healthcheck", ca.Healthcheck, cb.Healthcheck, ca.Healthcheck == nil, cb.Healthcheck == nil)
	if ca.ArgsEscaped != cb.ArgsEscaped {
		d.add("argsEscaped", str(fmt.Sprint(ca.ArgsEscaped)), str(fmt.Sprint(cb.ArgsEscaped)))
	}

	for i := range max(len(a.History), len(b.History)) {
		var ha, hb *v1.History
		if i < len(a.History) {
			ha = &a.History[i]
		}
		if i < len(b.History) {
			hb = &b.History[i]
		}
		field := fmt.Sprintf("history[%d]", i+1)
		if ha == nil || hb == nil {
			d.add(field, historyLine(ha), historyLine(hb))
			continue
		}
		d.addString(field+".created_by", ha.CreatedBy, hb.CreatedBy)
		d.add(field+".created", formatTime(ha.Created.Time), formatTime(hb.Created.Time))
		d.addString(field+".comment", ha.Comment, hb.Comment)
		d.addString(field+".author", ha.Author, hb.Author)
		if ha.EmptyLayer != hb.EmptyLayer {
			d.add(field+".empty_layer", str(fmt.Sprint(ha.EmptyLayer)), str(fmt.Sprint(hb.EmptyLayer)))
		}
	}

	d.addString("rootfs.type", a.RootFS.Type, b.RootFS.Type)
	for i := range max(len(a.RootFS.DiffIDs), len(b.RootFS.DiffIDs)) {
		var x, y *string
		if i < len(a.RootFS.DiffIDs) {
			x = str(a.RootFS.DiffIDs[i].String())
		}
		if i < len(b.RootFS.DiffIDs) {
			y = str(b.RootFS.DiffIDs[i].String())
		}
		d.add(fmt.Sprintf("rootfs.diff_ids[%d]", i+1), x, y)
	}
	return d
}

// historyLine summarizes a history entry present on one side only.
func historyLine(h *v1.History) *string {
	if h == nil {
		return nil
	}
	s := h.CreatedBy
	if s == "" {
		s = h.Comment
	}
	if t := formatTime(h.Created.Time); t != nil {
		s += " (" + *t + ")"
	}
	return str(strings.TrimSpace(s))
}
