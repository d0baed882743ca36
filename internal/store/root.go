package store

import (
	"os"
	"path/filepath"
	"strconv"
)

// DefaultRoot returns the store root used when the user names none:
// $MANYARCH_ROOT if set; /var/lib/manyarch for root; else
// $XDG_DATA_HOME/manyarch, with XDG_DATA_HOME defaulting to ~/.local/share.
func DefaultRoot() string {
	if r := os.Getenv("MANYARCH_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return "/var/lib/manyarch"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "manyarch")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		// No home: fall back to a per-user directory that still works.
		return filepath.Join(os.TempDir(), "manyarch-"+strconv.Itoa(os.Geteuid()), "data")
	}
	return filepath.Join(home, ".local", "share", "manyarch")
}
