package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/store"
)

// globalOptions are the flags every command accepts.
type globalOptions struct {
	root    string
	verbose int
}

// NewRootCmd returns a new manyarch command tree.
func NewRootCmd() *cobra.Command { return newRootCmd(nil) }

// NewRootCmdFor returns the command tree for running args (os.Args[1:]):
// when args name a top-level command (after the global flags), the root
// holds that command alone, so a start of manyarch does not build the
// other ~30 commands' flag sets (1.7 ms and 377 KB per start, most of it
// pflag's defaults of slice flags; bench/README.md, "Start-up of every
// command"). Anything else (no command, help, completion, an unknown
// name, a flag it cannot skip) gets the whole tree, so help, suggestions
// and completion see every command.
func NewRootCmdFor(args []string) *cobra.Command { return newRootCmd(findTopLevel(args)) }

// topLevelCmd is a top-level command: its name and aliases, and how it is
// made.
type topLevelCmd struct {
	names []string
	new   func(*globalOptions) *cobra.Command
}

// topLevel lists the top-level commands in the order of `manyarch --help`
// (TestTopLevelTable checks the names and aliases against the commands).
var topLevel = []topLevelCmd{
	{[]string{"version"}, func(*globalOptions) *cobra.Command { return newVersionCmd() }},
	{[]string{"images"}, newImagesCmd},
	{[]string{"inspect"}, newInspectCmd},
	{[]string{"tag"}, newTagCmd},
	{[]string{"rmi", "untag"}, newRmiCmd},
	{[]string{"copy", "cp"}, newCopyCmd},
	{[]string{"import"}, newImportCmd},
	{[]string{"gc"}, newGCCmd},
	{[]string{"prune"}, newPruneCmd},
	{[]string{"check"}, newCheckCmd},
	{[]string{"push"}, newPushCmd},
	{[]string{"pull"}, newPullCmd},
	{[]string{"index"}, newIndexCmd},
	{[]string{"binfmt"}, newBinfmtCmd},
	{[]string{"run"}, newRunCmd},
	{[]string{"build"}, newBuildCmd},
	{[]string{"test"}, newTestCmd},
	{[]string{"verify"}, newVerifyCmd},
	{[]string{"diff"}, newDiffCmd},
	{[]string{"sbom"}, newSBOMCmd},
	{[]string{"scan"}, newScanCmd},
	{[]string{"sign"}, newSignCmd},
	{[]string{"digest"}, newDigestCmd},
	{[]string{"manifest"}, newManifestCmd},
	{[]string{"config"}, newConfigCmd},
	{[]string{"ls", "list-tags"}, newLsCmd},
	{[]string{"catalog"}, newCatalogCmd},
	{[]string{"delete"}, newDeleteCmd},
	{[]string{"export"}, newExportCmd},
	{[]string{"login"}, newLoginCmd},
	{[]string{"logout"}, func(*globalOptions) *cobra.Command { return newLogoutCmd() }},
	{[]string{"builder"}, newBuilderCmd},
}

// findTopLevel returns the top-level command args run, skipping the
// global flags before it (--root DIR, --root=DIR, --verbose, -v...); nil
// when args start with anything else or name no command of the table.
func findTopLevel(args []string) *topLevelCmd {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--root":
			i++ // its value
			continue
		case strings.HasPrefix(a, "--root=") || a == "--verbose" || strings.HasPrefix(a, "--verbose="):
			continue
		case len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "v") == "":
			continue // -v, -vv
		case strings.HasPrefix(a, "-"):
			return nil
		}
		for k := range topLevel {
			if slices.Contains(topLevel[k].names, a) {
				return &topLevel[k]
			}
		}
		return nil
	}
	return nil
}

// newRootCmd returns the root with every top-level command, or with only
// one when only is not nil.
func newRootCmd(only *topLevelCmd) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "manyarch",
		Short: "Build, run, verify, test and publish multi-architecture container images",
		Long: `manyarch builds, runs, verifies, tests and publishes multi-architecture
container images as one daemonless binary.

Images live in a local store (an OCI image layout) at $MANYARCH_ROOT, by default
/var/lib/manyarch for root and $XDG_DATA_HOME/manyarch otherwise.

References:
  NAME[:TAG|@DIGEST]      the local store first, then the registry
  HOST/NAME[:TAG|@DIGEST] a name with a registry host (a '.', a ':PORT' or
                          localhost first) is that registry in copy, tag,
                          index, inspect and the registry verbs, as crane and
                          skopeo read it; pull, push, build -t and run keep
                          docker's reading (the store's copy of that name)
  store:NAME              the local store's copy of any name
  docker://REF            a registry only
  oci:DIR[:TAG]           an OCI image layout directory
  oci-archive:FILE[:TAG]  an OCI image layout in a tar file
  docker-archive:FILE[:NAME:TAG]  a docker save / docker load tar file`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion().Version,
	}
	// --version prints what `manyarch version` prints.
	cmd.SetVersionTemplate(buildVersion().String() + "\n")
	cmd.PersistentFlags().StringVar(&g.root, "root", "", "store directory (default $MANYARCH_ROOT, /var/lib/manyarch for root)")
	// --verbose everywhere; -v too, except on run, where -v is --volume
	// as in docker run (see verboseShorthand).
	cmd.PersistentFlags().CountVar(&g.verbose, "verbose", verboseUsage)

	if only != nil {
		cmd.AddCommand(only.new(g))
	} else {
		for _, tc := range topLevel {
			cmd.AddCommand(tc.new(g))
		}
	}
	verboseShorthand(cmd, &g.verbose)
	addCompletions(cmd, g)
	markUsageErrors(cmd)
	return cmd
}

const verboseUsage = "log more to stderr (repeat for debug)"

// verboseShorthand gives every command but run (and the root) -v for
// --verbose. A persistent -v cannot be used: run's -v is --volume, and a
// shorthand cannot mean two things in one flag set.
func verboseShorthand(c *cobra.Command, v *int) {
	if c.Name() == "run" && c.HasParent() && !c.Parent().HasParent() {
		return
	}
	c.Flags().CountVarP(v, "verbose", "v", verboseUsage)
	for _, sub := range c.Commands() {
		verboseShorthand(sub, v)
	}
}

// storeRoot is the store directory the flags and environment select.
func (g *globalOptions) storeRoot() string {
	return store.NewLayout(g.root).Root()
}

// logger returns the logger that -v selects, writing to stderr.
func (g *globalOptions) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose >= 2:
		level = slog.LevelDebug
	case g.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// ExitError carries a process exit status through cobra, for commands such as
// run and test whose status is not simply 0 or 1. Its message, when not
// empty, is printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode prints err (if any) to w and returns the process exit status for it.
func ExitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	if code := writeUsageError(w, err); code >= 0 {
		return code
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(w, "%s %s\n", paint(w, colorRed, "manyarch:"), userText(ee.Err.Error()))
		}
		return ee.Code
	}
	fmt.Fprintf(w, "%s %s\n", paint(w, colorRed, "manyarch:"), userText(err.Error()))
	return 1
}
