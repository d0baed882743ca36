package sshagent

import (
	"encoding/csv"
	"fmt"
	"strings"
)

// DefaultID is the id of --ssh default and of RUN --mount=type=ssh
// without id=.
const DefaultID = "default"

// Spec is one --ssh value: an id and the agent socket or key files behind
// it. No Paths (or one empty path) means the agent at $SSH_AUTH_SOCK.
type Spec struct {
	ID    string
	Paths []string
}

// String is the Spec as --ssh takes it.
func (s Spec) String() string {
	if len(s.Paths) == 0 {
		return s.ID
	}
	return s.ID + "=" + strings.Join(s.Paths, ",")
}

// ParseSpec parses an --ssh value as buildx does: ID[=PATH[,PATH...]],
// comma-separated values quoted as CSV.
func ParseSpec(s string) (Spec, error) {
	r := csv.NewReader(strings.NewReader(s))
	fields, err := r.Read()
	if err != nil || len(fields) == 0 {
		return Spec{}, fmt.Errorf("--ssh %q: want default, ID, ID=SOCKET or ID=KEYFILE[,KEYFILE...]", s)
	}
	id, first, hasPath := strings.Cut(fields[0], "=")
	id = strings.TrimSpace(id)
	if id == "" {
		return Spec{}, fmt.Errorf("--ssh %q: the id before = is empty: want default, ID, ID=SOCKET or ID=KEYFILE[,KEYFILE...]", s)
	}
	if strings.ContainsAny(id, " \t/") {
		return Spec{}, fmt.Errorf("--ssh %q: id %q has a space or a slash: an id is a name such as default or github, the path goes after = (ID=PATH)", s, id)
	}
	spec := Spec{ID: id}
	if hasPath {
		spec.Paths = append(spec.Paths, first)
	} else if len(fields) > 1 {
		return Spec{}, fmt.Errorf("--ssh %q: paths follow ID=: want %s=%s", s, id, strings.Join(fields[1:], ","))
	}
	spec.Paths = append(spec.Paths, fields[1:]...)
	for i, p := range spec.Paths {
		if p == "" && len(spec.Paths) > 1 {
			return Spec{}, fmt.Errorf("--ssh %q: path %d is empty", s, i+1)
		}
	}
	return spec, nil
}
