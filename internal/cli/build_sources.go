package cli

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/manyarch/manyarch/internal/engine"
)

// buildSources holds the buildx flags that change where a build reads its
// bases from: --pull (issue #22 item 3).
type buildSources struct {
	pull bool
}

func (s *buildSources) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&s.pull, "pull", false, "read every base named with a registry host (HOST/NAME:TAG) from its registry, even when the store has it, and update the store's copy (as buildx --pull); store names (no host) are read from the store")
}

// apply sets the Request fields of the flags.
func (s *buildSources) apply(req *engine.Request) error {
	req.Pull = s.pull
	return nil
}

// printPulled says which bases --pull read from their registries.
func printPulled(w io.Writer, res *engine.Result) {
	for _, p := range res.Pulled {
		fmt.Fprintf(w, "pulled %s from its registry (%s), named in the local store\n", p.Ref, p.Digest)
	}
}
