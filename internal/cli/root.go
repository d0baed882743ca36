package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/store"
)

// globalOptions are the flags every command accepts.
type globalOptions struct {
	root    string
	verbose int
}

// NewRootCmd returns a new manyarch command tree.
func NewRootCmd() *cobra.Command {
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

	cmd.AddCommand(
		newVersionCmd(),
		newImagesCmd(g),
		newInspectCmd(g),
		newTagCmd(g),
		newRmiCmd(g),
		newCopyCmd(g),
		newImportCmd(g),
		newGCCmd(g),
		newPruneCmd(g), newCheckCmd(g),
		newPushCmd(g), newPullCmd(g), newIndexCmd(g),
		newBinfmtCmd(g),
		newRunCmd(g),
		newBuildCmd(g),
		newTestCmd(g),
		newVerifyCmd(g),
		newDiffCmd(g),
		newSBOMCmd(g),
		newScanCmd(g),
		newSignCmd(g),
		newDigestCmd(g),
		newManifestCmd(g),
		newConfigCmd(g),
		newLsCmd(g),
		newCatalogCmd(g),
		newDeleteCmd(g),
		newExportCmd(g),
		newLoginCmd(g),
		newLogoutCmd(),
		newBuilderCmd(g),
	)
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
