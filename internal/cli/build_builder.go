package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/buildkit"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/ref"
)

// builderFlag is build's --builder.
type builderFlag struct{ spec string }

func (f *builderFlag) addFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.spec, "builder", "", `build on a builder's BuildKit nodes: NAME (see 'manyarch builder'), unix:///PATH.sock or tcp://HOST:PORT for one node, or "local" (default: $`+builders.EnvBuilder+`, else 'builder use', else local)`)
}

// engine returns the engine the flag, MANYARCH_BUILDER or the default
// builder selects; native when that is the local builder, and for --check
// (planning and lint run here, with no node).
func (f *builderFlag) engine(g *globalOptions, env *ref.Env, stderr io.Writer, native engine.Engine, check bool) (engine.Engine, error) {
	spec, fromEnv := f.spec, os.Getenv(builders.EnvBuilder)
	sel := spec
	if sel == "" {
		sel = fromEnv
	}
	c := &builders.Config{}
	if sel != builders.Local && !isAddr(sel) { // a name, or the default: read the configuration
		var err error
		if c, err = loadBuilders(); err != nil {
			return nil, err
		}
	}
	b, local, err := c.Resolve(spec, fromEnv)
	if err != nil {
		return nil, err
	}
	if local || check {
		return native, nil
	}
	return buildkit.New(buildkit.Options{Builder: b, Env: env, Logger: g.logger(stderr)}), nil
}

func isAddr(s string) bool { return len(s) > 6 && (s[:7] == "unix://" || s[:6] == "tcp://") }
