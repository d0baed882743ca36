package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time: -ldflags "-X github.com/manyarch/manyarch/internal/cli.version=v0.1.0"
// (hack/release.sh does).
var version = "devel"

// versionInfo is what `manyarch version --format json` prints (stable keys).
type versionInfo struct {
	Version   string `json:"version"`            // v1.2.3, or devel-COMMIT12 for a source build
	Commit    string `json:"commit,omitempty"`   // the VCS revision, when the build recorded it
	Date      string `json:"date,omitempty"`     // the commit's time (RFC 3339), when recorded
	Modified  bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	GoVersion string `json:"goVersion"`          // go1.26.8
	Platform  string `json:"platform"`           // linux/amd64
}

// buildVersion reads the version and the Go build information.
func buildVersion() versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Date = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "devel" && len(v.Commit) >= 12 {
		v.Version = "devel-" + v.Commit[:12]
	}
	return v
}

// String is the one line `manyarch version` and `manyarch --version` print:
// "manyarch v1.2.3 linux/amd64 go1.26.8" (the first three fields keep their
// places for scripts), then the commit and its date when recorded.
func (v versionInfo) String() string {
	s := fmt.Sprintf("manyarch %s %s %s", v.Version, v.Platform, v.GoVersion)
	if v.Commit != "" {
		s += " commit " + v.Commit
		if v.Modified {
			s += "+modified"
		}
	}
	if v.Date != "" {
		s += " built from a commit of " + v.Date
	}
	return s
}

func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of manyarch",
		Long: `Print manyarch's version, the platform it was built for, its Go version and,
when the build recorded them, the commit and the commit's date (a release
build records none: -buildvcs=false keeps it reproducible). manyarch --version
prints the same line.

--format json prints an object with the keys version, commit, date,
modified, goVersion and platform; a --format template runs on them.`,
		Example: `  manyarch version
  manyarch --version
  manyarch version --format json
  manyarch version --format '{{.version}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if format == "text" {
				format = ""
			}
			if done, err := writeFormatted(cmd.OutOrStdout(), format, v); done {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", `output format: "text" (default), "json", or a Go template ('{{.version}}')`)
	return cmd
}
