//go:build linux

package cli

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"10GB", 10e9, true},
		{"512MiB", 512 << 20, true},
		{"1.5g", 3 << 29, true},
		{"2 kB", 2000, true},
		{"", 0, false},
		{"ten", 0, false},
		{"5 parsecs", 0, false},
		{"-1GB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
