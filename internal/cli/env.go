package cli

import (
	"fmt"
	"io"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
)

// remoteFlags are the registry flags of commands that may touch a registry.
type remoteFlags struct {
	insecure bool
	jobs     int
}

func (f *remoteFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	cmd.Flags().IntVarP(&f.jobs, "jobs", "j", 4, "blobs transferred in parallel")
}

func (f *remoteFlags) Validate() error {
	if f.jobs < 1 {
		return fmt.Errorf("--jobs must be at least 1, not %d", f.jobs)
	}
	return nil
}

// newEnv returns the reference environment for a command: the store the
// global flags select and the registry options. The caller closes it.
func (g *globalOptions) newEnv(stderr io.Writer, rf *remoteFlags) *ref.Env {
	// Held from its opening to the command's end: no gc in another
	// process takes the blobs it reads. gc, rmi and prune, which collect
	// garbage themselves, turn it off.
	env := &ref.Env{StoreRoot: g.storeRoot(), Logger: g.logger(stderr), HoldStore: true}
	if rf != nil {
		env.Remote = append(env.Remote, remote.WithInsecure(rf.insecure), remote.WithJobs(rf.jobs))
	}
	env.Remote = append(env.Remote, remote.WithLogger(env.Logger))
	return env
}

// platformFlags is --platform: a comma list, repeatable.
type platformFlags struct {
	raw []string
}

func (f *platformFlags) AddFlags(cmd *cobra.Command, usage string) {
	cmd.Flags().StringSliceVar(&f.raw, "platform", nil, usage)
}

// Platforms parses the flag values.
func (f *platformFlags) Platforms() ([]specs.Platform, error) {
	if len(f.raw) == 0 {
		return nil, nil
	}
	// "local" is the host's platform, as buildx's --platform local is
	// the builder's own.
	raw := make([]string, 0, len(f.raw))
	for _, r := range f.raw {
		var elems []string
		for _, e := range strings.Split(r, ",") {
			if strings.TrimSpace(e) == "local" {
				e = platform.Format(platform.Host())
			}
			elems = append(elems, e)
		}
		raw = append(raw, strings.Join(elems, ","))
	}
	ps, err := platform.ParseList(raw...)
	if err != nil {
		return nil, fmt.Errorf("--platform: %w", err)
	}
	return ps, nil
}
