package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/platform"
)

// imageArgCommands take image references as positional arguments: shell
// completion offers the store's names for them. "run" and "test" take
// one image first (what follows is a command or a file).
var imageArgCommands = map[string]int{
	"inspect": -1, "push": -1, "rmi": -1, "tag": 1, "copy": 1, "verify": -1, "diff": 2,
	"run": 1, "digest": -1, "manifest": -1, "config": -1, "export": 1, "sbom": 1,
	"sign": -1, "scan": 1,
}

// flagValues are the fixed values of flags, offered by shell completion
// wherever a command has the flag.
var flagValues = map[string][]string{
	"network":   {"host", "private", "none"},
	"emulation": {"auto", "host", "private", "none"},
	"progress":  {"auto", "tty", "plain", "json", "quiet"},
}

// addCompletions gives every command of the tree shell completion of
// image names (from the store), platforms and fixed flag values, for
// `manyarch completion bash|zsh|fish|powershell`.
func addCompletions(c *cobra.Command, g *globalOptions) {
	if n, ok := imageArgCommands[c.Name()]; ok && c.ValidArgsFunction == nil && c.HasParent() && !c.Parent().HasParent() {
		c.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if n >= 0 && len(args) >= n {
				return nil, cobra.ShellCompDirectiveDefault // a command or a file follows
			}
			return storeNames(cmd.Context(), g, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	for _, name := range []string{"platform", "platforms"} {
		if c.Flags().Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, completePlatforms)
		}
	}
	for name, values := range flagValues {
		if c.Flags().Lookup(name) != nil {
			vs := values
			_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return vs, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	for _, sub := range c.Commands() {
		addCompletions(sub, g)
	}
}

// completePlatforms offers every platform manyarch knows, after the ones
// already typed in a comma-separated list.
func completePlatforms(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix := ""
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		prefix = toComplete[:i+1]
	}
	var out []string
	for _, a := range platform.All() {
		out = append(out, prefix+platform.Format(a.Platform))
	}
	out = append(out, prefix+"local")
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// storeNames lists the store's image names that start with prefix. A
// store that does not exist yet is not created by a tab key; any error
// gives no names (completion never prints errors into a shell).
func storeNames(ctx context.Context, g *globalOptions, prefix string) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, err := os.Stat(g.storeRoot()); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	env := g.newEnv(io.Discard, nil)
	defer env.Close()
	st, err := env.Store(ctx)
	if err != nil {
		return nil
	}
	named, err := st.Names(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range named {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	return out
}
