package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLong checks the count, the reasons it accepts and what it skips.
func TestLong(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("\t_ = 1\n", 5) // a function of 7 lines
	src := "package x\n\n" +
		"func long() {\n" + body + "}\n\n" +
		"func withReason() { // long: a table\n" + body + "}\n\n" +
		"// docReason is long.\n// long: one switch over every case\nfunc docReason() {\n" + body + "}\n\n" +
		"type T struct{}\n\nfunc (*T) method() {\n" + body + "}\n\n" +
		"func short() {\n\t_ = 1\n}\n"
	write := func(name, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("x.go", src)
	write("x_test.go", "package x\n\nfunc helper() {\n"+body+body+"}\n")
	write("testdata/y.go", src)

	got, err := Long(dir, 6, true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range got {
		names = append(names, f.String()[len(dir)+1:])
	}
	want := []string{"x_test.go:3: helper is 12 lines", "x.go:3: long is 7 lines", "x.go:31: T.method is 7 lines"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("Long(max 6) = %q, want %q", names, want)
	}
	if got, _ := Long(dir, 7, false); len(got) != 0 {
		t.Errorf("Long(max 7, no tests) = %v, want none", got)
	}
	write("bad.go", "package x\nfunc {")
	if _, err := Long(dir, 6, true); err == nil || !strings.Contains(err.Error(), "bad.go") {
		t.Errorf("Long over a file that does not parse = %v, want an error naming bad.go", err)
	}
}

// TestPlannerHasNone keeps internal/plan and the executor files of
// internal/engine that the planner split touched free of long functions.
func TestPlannerHasNone(t *testing.T) {
	got, err := Long("../../internal/plan", 120, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"engine.go", "request.go", "image.go", "output.go", "text.go", "planfs.go"} {
		fs, err := longInFile(filepath.Join("../../internal/engine", name), 120)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fs...)
	}
	for _, f := range got {
		t.Errorf("%s: split it, or write why beside it (// long: ...)", f)
	}
}
