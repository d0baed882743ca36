package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// results is bench/scale.json: what bench/scale.sh measured and where.
type results struct {
	Date    string  `json:"date"`
	Commit  string  `json:"commit"`
	Dirty   bool    `json:"dirty"`
	Machine machine `json:"machine"`
	Runs    int     `json:"runs"`
	TotalS  float64 `json:"total_s"`
	Note    string  `json:"note"`
	Rows    []row   `json:"rows"`
}

type machine struct {
	NProc  int      `json:"nproc"`
	CPU    string   `json:"cpu"`
	Kernel string   `json:"kernel"`
	MemGiB float64  `json:"mem_gib"`
	Load   []string `json:"loadavg_at_end"`
}

// row is one cell of the scale bench: a tool pair at one size of one axis
// (the row contract of bench/all.sh plus axis, size, unit, what and series).
// A nil time is a run that failed.
type row struct {
	Row        string   `json:"row"`
	Peer       string   `json:"peer"`
	Axis       string   `json:"axis"`
	Size       float64  `json:"size"`
	Unit       string   `json:"unit"`
	What       string   `json:"what"`
	Series     string   `json:"series"`
	Platforms  int      `json:"platforms"`
	OursMedian *float64 `json:"ours_median_s"`
	OursMin    *float64 `json:"ours_min_s"`
	PeerMedian *float64 `json:"peer_median_s"`
	PeerMin    *float64 `json:"peer_min_s"`
}

// parse decodes and checks bench/scale.json; errors name the file, the line
// and column where that is known, and the row and field.
func parse(name string, data []byte) (*results, error) {
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := position(data, syn.Offset)
			return nil, fmt.Errorf("%s:%d:%d: not valid JSON: %s (bench/scale.sh writes this file; run it again)", name, line, col, syn.Error())
		case errors.As(err, &typ):
			line, col := position(data, typ.Offset)
			return nil, fmt.Errorf("%s:%d:%d: %s is a JSON %s, want %s", name, line, col, typ.Field, typ.Value, kind(typ.Type))
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("%s: no rows (run bench/scale.sh to measure them)", name)
	}
	for i, r := range res.Rows {
		at := fmt.Sprintf("%s: rows[%d] (%q)", name, i, r.Row)
		for _, f := range []struct{ name, v string }{{"axis", r.Axis}, {"unit", r.Unit}, {"what", r.What}, {"series", r.Series}} {
			if f.v == "" {
				return nil, fmt.Errorf("%s: no %q: not a row of bench/scale.sh", at, f.name)
			}
		}
		if !(r.Size > 0) || math.IsInf(r.Size, 0) {
			return nil, fmt.Errorf("%s: size %v: want a positive number", at, r.Size)
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"ours_median_s", r.OursMedian}, {"ours_min_s", r.OursMin}, {"peer_median_s", r.PeerMedian}, {"peer_min_s", r.PeerMin}} {
			if f.v != nil && !(*f.v > 0) {
				return nil, fmt.Errorf("%s: %s %v: want a positive number of seconds, or null for a failed run", at, f.name, *f.v)
			}
		}
	}
	return &res, nil
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// kind names a Go type as the JSON value it decodes from.
func kind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return kind(t.Elem())
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64, reflect.Int32:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "list"
	default:
		return "object"
	}
}
