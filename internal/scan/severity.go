package scan

import (
	"fmt"
	"math"
	"strings"
)

// Rating is a qualitative severity, CVSS v3's scale, with UNKNOWN for a
// record that gives none manyarch can read.
type Rating string

// Ratings, lowest first.
const (
	Unknown  Rating = "UNKNOWN"
	Low      Rating = "LOW"
	Medium   Rating = "MEDIUM"
	High     Rating = "HIGH"
	Critical Rating = "CRITICAL"
)

var ratingRank = map[Rating]int{Unknown: 0, Low: 1, Medium: 2, High: 3, Critical: 4}

// Rank orders ratings: UNKNOWN 0 (nothing said, so below LOW), LOW 1 ...
// CRITICAL 4.
func (r Rating) Rank() int { return ratingRank[r] }

// ParseRating reads a rating as --fail-on and records write it: unknown,
// low, medium (or moderate, as GitHub writes it), high, critical, in any
// case.
func ParseRating(s string) (Rating, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "UNKNOWN":
		return Unknown, nil
	case "LOW", "NEGLIGIBLE":
		return Low, nil
	case "MEDIUM", "MODERATE":
		return Medium, nil
	case "HIGH", "IMPORTANT":
		return High, nil
	case "CRITICAL":
		return Critical, nil
	}
	return "", fmt.Errorf("severity %q: use unknown, low, medium, high or critical", s)
}

// ratingOfScore is CVSS v3's qualitative scale (v2 has no CRITICAL; NVD
// rates v2 scores of 7.0 and more HIGH).
func ratingOfScore(score float64, v2 bool) Rating {
	switch {
	case score >= 9 && !v2:
		return Critical
	case score >= 7:
		return High
	case score >= 4:
		return Medium
	case score > 0:
		return Low
	}
	return Low // 0.0 is "None"; a record lists it as a vulnerability all the same
}

// severityOf rates a finding: a CVSS v3 vector (the affected package's
// own, else the record's) by its base score, else a CVSS v2 vector, else
// the source's own rating (database_specific.severity, or an "Ubuntu"
// entry), else UNKNOWN. CVSS v4 vectors are not scored (v4's score needs
// the specification's table of macro vectors): such a record falls back
// to its source's rating. The vector is returned with the rating.
func severityOf(r *Record, a *Affected) (Rating, float64, string) {
	entries := append(append([]Severity(nil), a.Severity...), r.Severity...)
	for _, want := range []string{"CVSS_V3", "CVSS_V2"} {
		for _, s := range entries {
			if s.Type != want {
				continue
			}
			score, err := cvssScore(s.Score)
			if err != nil {
				continue // an unreadable vector: try the next source
			}
			return ratingOfScore(score, want == "CVSS_V2"), score, s.Score
		}
	}
	if s, ok := r.DatabaseSpecific.Severity.(string); ok {
		if rt, err := ParseRating(s); err == nil {
			return rt, 0, ""
		}
	}
	for _, s := range entries {
		if s.Type == "Ubuntu" {
			if rt, err := ParseRating(s.Score); err == nil {
				return rt, 0, ""
			}
		}
	}
	return Unknown, 0, ""
}

// cvssScore is the base score of a CVSS v3.0/v3.1 vector
// ("CVSS:3.1/AV:N/AC:L/...") or a v2 vector ("AV:N/AC:L/Au:N/C:P/I:P/A:P").
func cvssScore(vector string) (float64, error) {
	m := map[string]string{}
	parts := strings.Split(vector, "/")
	v3 := strings.HasPrefix(vector, "CVSS:3.")
	if v3 {
		parts = parts[1:]
	}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, fmt.Errorf("CVSS vector %q: %q is not METRIC:VALUE", vector, p)
		}
		m[k] = v
	}
	pick := func(metric string, weights map[string]float64) (float64, error) {
		w, ok := weights[m[metric]]
		if !ok {
			return 0, fmt.Errorf("CVSS vector %q: %s:%s is not a base metric value", vector, metric, m[metric])
		}
		return w, nil
	}
	if v3 {
		return cvss3(m, pick)
	}
	return cvss2(pick)
}

func cvss3(m map[string]string, pick func(string, map[string]float64) (float64, error)) (float64, error) {
	changed := m["S"] == "C"
	if m["S"] != "C" && m["S"] != "U" {
		return 0, fmt.Errorf("CVSS v3 vector: scope S:%s is not U or C", m["S"])
	}
	pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if changed {
		pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	var w [7]float64
	var err error
	for i, x := range []struct {
		metric  string
		weights map[string]float64
	}{
		{"AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}},
		{"AC", map[string]float64{"L": 0.77, "H": 0.44}},
		{"PR", pr},
		{"UI", map[string]float64{"N": 0.85, "R": 0.62}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		if w[i], err = pick(x.metric, x.weights); err != nil {
			return 0, err
		}
	}
	iss := 1 - (1-w[4])*(1-w[5])*(1-w[6])
	impact := 6.42 * iss
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	exploit := 8.22 * w[0] * w[1] * w[2] * w[3]
	if impact <= 0 {
		return 0, nil
	}
	if changed {
		return roundUp(math.Min(1.08*(impact+exploit), 10)), nil
	}
	return roundUp(math.Min(impact+exploit, 10)), nil
}

// roundUp is CVSS v3.1's Roundup: the smallest number of one decimal
// place not less than x, computed on integers to avoid floating point
// surprises.
func roundUp(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

func cvss2(pick func(string, map[string]float64) (float64, error)) (float64, error) {
	cia := map[string]float64{"N": 0, "P": 0.275, "C": 0.660}
	var w [6]float64
	var err error
	for i, x := range []struct {
		metric  string
		weights map[string]float64
	}{
		{"AV", map[string]float64{"L": 0.395, "A": 0.646, "N": 1}},
		{"AC", map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}},
		{"Au", map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		if w[i], err = pick(x.metric, x.weights); err != nil {
			return 0, err
		}
	}
	impact := 10.41 * (1 - (1-w[3])*(1-w[4])*(1-w[5]))
	exploit := 20 * w[0] * w[1] * w[2]
	f := 1.176
	if impact == 0 {
		f = 0
	}
	return math.Round(((0.6*impact)+(0.4*exploit)-1.5)*f*10) / 10, nil
}
