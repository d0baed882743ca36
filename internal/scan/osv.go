package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Record is one OSV vulnerability record (the OSV schema, 1.x): the
// fields matching and reports use.
type Record struct {
	ID        string     `json:"id"`
	Modified  string     `json:"modified,omitempty"`
	Withdrawn string     `json:"withdrawn,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Details   string     `json:"details,omitempty"`
	Severity  []Severity `json:"severity,omitempty"`
	Affected  []Affected `json:"affected"`
	// DatabaseSpecific.Severity is the source's own rating, where it has
	// one (GitHub's "MODERATE", ...).
	DatabaseSpecific struct {
		Severity any `json:"severity,omitempty"`
	} `json:"database_specific"`
}

// Severity is an OSV severity entry: a CVSS vector, or a distribution's
// own rating ("Ubuntu": "medium").
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one package a record affects and the versions affected.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl,omitempty"`
	} `json:"package"`
	Ranges   []Range    `json:"ranges,omitempty"`
	Versions []string   `json:"versions,omitempty"`
	Severity []Severity `json:"severity,omitempty"`
}

// Range is an OSV range: events in version order of its type's scheme.
type Range struct {
	Type   string  `json:"type"` // SEMVER, ECOSYSTEM or GIT (not matched: images record no commits)
	Events []Event `json:"events"`
}

// Event is one range event: exactly one of its fields is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// ParseRecord reads one OSV record and checks what matching relies on: an
// id, each affected package's ecosystem and name, each range's type, and
// events that set exactly one of introduced, fixed, last_affected and
// limit. Versions are read when they are compared (a record of an
// ecosystem no image holds is never compared).
func ParseRecord(data []byte) (*Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not an OSV record: %w", jsonError(data, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("not an OSV record: more than one JSON value")
	}
	if strings.TrimSpace(r.ID) == "" {
		return nil, fmt.Errorf("OSV record without an id")
	}
	for i, a := range r.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			// OSV allows affected entries without a package (a GIT
			// range of a repository); they name nothing an image holds,
			// but their ranges are checked like any other.
			if len(a.Ranges) == 0 || !allGit(a.Ranges) {
				return nil, fmt.Errorf("%s: affected[%d] has no package ecosystem and name", r.ID, i)
			}
		}
		for j, rg := range a.Ranges {
			switch rg.Type {
			case "SEMVER", "ECOSYSTEM", "GIT":
			default:
				return nil, fmt.Errorf("%s: affected[%d].ranges[%d] has type %q, not SEMVER, ECOSYSTEM or GIT", r.ID, i, j, rg.Type)
			}
			if len(rg.Events) == 0 {
				return nil, fmt.Errorf("%s: affected[%d].ranges[%d] has no events", r.ID, i, j)
			}
			for k, e := range rg.Events {
				n := 0
				for _, v := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if v != "" {
						n++
					}
				}
				if n != 1 {
					return nil, fmt.Errorf("%s: affected[%d].ranges[%d].events[%d] sets %d of introduced, fixed, last_affected and limit; want one", r.ID, i, j, k, n)
				}
			}
		}
	}
	return &r, nil
}

func allGit(rs []Range) bool {
	for _, r := range rs {
		if r.Type != "GIT" {
			return false
		}
	}
	return true
}

// jsonError adds the line and column of a syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n')) - 1
	return fmt.Errorf("line %d column %d: %w", line, col, err)
}
