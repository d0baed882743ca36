package cli

import (
	"bytes"
	"slices"
	"testing"
)

// The table NewRootCmdFor picks from holds each command's name and aliases
// as the command itself has them: an alias missing from the table would
// still work, but build the whole tree.
func TestTopLevelTable(t *testing.T) {
	full := NewRootCmd()
	cmds := full.Commands() // sorted by name
	if len(cmds) != len(topLevel) {
		t.Errorf("the whole tree has %d top-level commands, the table %d", len(cmds), len(topLevel))
	}
	for _, tc := range topLevel {
		c, _, err := full.Find(tc.names[:1])
		if err != nil || c == full {
			t.Errorf("table entry %q: no such command in the whole tree (%v)", tc.names[0], err)
			continue
		}
		if want := append([]string{c.Name()}, c.Aliases...); !slices.Equal(tc.names, want) {
			t.Errorf("table entry %v: the command's name and aliases are %v", tc.names, want)
		}
	}
}

// A root made for one command holds that command alone, with the same
// flags, usage and help as in the whole tree.
func TestRootForOneCommand(t *testing.T) {
	full := NewRootCmd()
	for _, tc := range topLevel {
		for _, name := range tc.names {
			root := NewRootCmdFor([]string{"--root", "/nonexistent", "-v", name, "--help"})
			if n := len(root.Commands()); n != 1 {
				t.Errorf("%s: root has %d commands, want 1", name, n)
				continue
			}
			got, _, err := root.Find([]string{name})
			if err != nil || got == root {
				t.Errorf("%s: not found in its own root: %v", name, err)
				continue
			}
			want, _, _ := full.Find([]string{name})
			if g, w := got.UsageString(), want.UsageString(); g != w {
				t.Errorf("%s: usage differs from the whole tree's:\n%s\nwant:\n%s", name, g, w)
			}
			if g, w := got.Long+got.Example, want.Long+want.Example; g != w {
				t.Errorf("%s: help text differs from the whole tree's", name)
			}
		}
	}
}

func TestFindTopLevel(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" for the whole tree
	}{
		{[]string{"run", "alpine"}, "run"},
		{[]string{"cp", "a", "b"}, "copy"},
		{[]string{"--root", "/x", "pull", "a"}, "pull"},
		{[]string{"--root=/x", "-vv", "--verbose", "images"}, "images"},
		{[]string{"--root"}, ""},
		{nil, ""},
		{[]string{"--help"}, ""},
		{[]string{"help", "run"}, ""},
		{[]string{"completion", "bash"}, ""},
		{[]string{"__complete", "run", ""}, ""},
		{[]string{"biuld"}, ""}, // cobra's suggestion needs every name
		{[]string{"--", "run"}, ""},
		{[]string{"-x", "run"}, ""},
	} {
		got := ""
		if tc := findTopLevel(tt.args); tc != nil {
			got = tc.names[0]
		}
		if got != tt.want {
			t.Errorf("findTopLevel(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// The whole tree still answers an unknown command with a suggestion.
func TestRootForUnknownCommandSuggests(t *testing.T) {
	root := NewRootCmdFor([]string{"biuld"})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"biuld"})
	err := root.Execute()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("build")) {
		t.Errorf("manyarch biuld: %v, want a suggestion of build", err)
	}
}

// BenchmarkNewRootCmd is the command tree a start of manyarch builds: the
// whole tree, and the one `manyarch run` gets.
func BenchmarkNewRootCmd(b *testing.B) {
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewRootCmd()
		}
	})
	b.Run("run", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewRootCmdFor([]string{"run", "alpine", "true"})
		}
	})
}
