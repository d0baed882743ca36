package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/buildkit"
	"github.com/manyarch/manyarch/internal/platform"
)

func newBuilderCmd(_ *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage builders: sets of BuildKit nodes that build platforms natively",
		Long: `A builder is a named set of BuildKit daemons (nodes). 'manyarch build
--builder NAME' sends each platform to the node that runs it natively (as
'docker buildx create --append --platform ...' does), else to the first node
that can emulate it, and all nodes build at once; manyarch assembles one
index from their results in the local store.

The built-in, daemonless engine is the builder named "local" (the default).
Builders are stored in $XDG_CONFIG_HOME/manyarch/builders.json (default
~/.config/manyarch). MANYARCH_BUILDER or --builder on build choose one for a
build; 'builder use' sets the default.`,
		Example: `  manyarch builder create farm --node linux/amd64=unix:///run/buildkit/buildkitd.sock --node linux/arm64,linux/arm/v7=tcp://127.0.0.1:1234
  manyarch builder ls
  manyarch builder use farm
  manyarch builder use local
  manyarch builder rm farm`,
	}
	cmd.AddCommand(newBuilderCreateCmd(), newBuilderLsCmd(), newBuilderInspectCmd(), newBuilderRmCmd(), newBuilderUseCmd())
	return cmd
}

func builderStore() (*builders.Store, error) {
	dir, err := builders.ConfigDir()
	if err != nil {
		return nil, err
	}
	return builders.Open(dir), nil
}

func loadBuilders() (*builders.Config, error) {
	bs, err := builderStore()
	if err != nil {
		return nil, err
	}
	return bs.Load()
}

func newBuilderCreateCmd() *cobra.Command {
	var (
		nodes         []string
		ca, cert, key []string
		use           bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME --node [PLATFORMS=]ADDR [--node ...]",
		Short: "Define a builder from BuildKit nodes",
		Long: `Define the builder NAME. Each --node is [PLATFORMS=]ADDR: ADDR is
unix:///PATH.sock or tcp://HOST:PORT, PLATFORMS (a comma list) the platforms
the node builds natively (default: its worker's own platform). Nodes are
named NAME0, NAME1, ... in order.

--tls-ca, --tls-cert and --tls-key are given once (every node uses the same
files) or once per --node, in the same order. Nothing is dialled: 'builder
ls' shows whether the nodes answer.`,
		Example: `  manyarch builder create arm --node linux/arm64,linux/arm/v7=tcp://127.0.0.1:1234
  manyarch builder create pair --use --node linux/amd64=tcp://127.0.0.1:1235 --node linux/arm64=tcp://127.0.0.1:1236 && manyarch builder use local
  # with TLS: --tls-ca ca.pem --tls-cert cert.pem --tls-key key.pem (once for every node, or once per --node)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ns []builders.Node
			for _, s := range nodes {
				n, err := builders.ParseNode(s)
				if err != nil {
					return err
				}
				ns = append(ns, n)
			}
			for _, f := range []struct {
				flag string
				vals []string
				set  func(*builders.Node, string)
			}{
				{"--tls-ca", ca, func(n *builders.Node, v string) { n.TLS.CA = v }},
				{"--tls-cert", cert, func(n *builders.Node, v string) { n.TLS.Cert = v }},
				{"--tls-key", key, func(n *builders.Node, v string) { n.TLS.Key = v }},
			} {
				switch len(f.vals) {
				case 0:
				case 1:
					for i := range ns {
						f.set(&ns[i], f.vals[0])
					}
				case len(ns):
					for i := range ns {
						f.set(&ns[i], f.vals[i])
					}
				default:
					return fmt.Errorf("%w: %s given %d times for %d --node values: give it once for all nodes or once per node", builders.ErrBadSpec, f.flag, len(f.vals), len(ns))
				}
			}
			b, err := builders.New(args[0], ns)
			if err != nil {
				return err
			}
			bs, err := builderStore()
			if err != nil {
				return err
			}
			if err := bs.Update(cmd.Context(), func(c *builders.Config) error {
				if err := c.Add(b); err != nil {
					return err
				}
				if use {
					return c.Use(b.Name)
				}
				return nil
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&nodes, "node", nil, "a BuildKit node: [PLATFORMS=]unix:///PATH.sock or tcp://HOST:PORT (repeatable)")
	f.StringArrayVar(&ca, "tls-ca", nil, "CA certificate (PEM) of the node's server certificate (once, or once per --node)")
	f.StringArrayVar(&cert, "tls-cert", nil, "client certificate (PEM) (once, or once per --node)")
	f.StringArrayVar(&key, "tls-key", nil, "client key (PEM) (once, or once per --node)")
	f.BoolVar(&use, "use", false, "make it the default builder")
	return cmd
}

// builderView is the JSON form of a builder in ls and inspect.
type builderView struct {
	Name    string     `json:"name"`
	Default bool       `json:"default"`
	Nodes   []nodeView `json:"nodes"`
}

type nodeView struct {
	Name      string   `json:"name"`
	Addr      string   `json:"addr"`
	Native    []string `json:"native,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	Reachable bool     `json:"reachable"`
	Error     string   `json:"error,omitempty"`
	Version   string   `json:"buildkit,omitempty"`
	TLS       bool     `json:"tls"`
}

// probeBuilders dials every node of bs at once, each within timeout.
func probeBuilders(ctx context.Context, bs []builders.Builder, current string, timeout time.Duration) []builderView {
	out := make([]builderView, len(bs))
	done := make(chan struct{})
	count := 0
	for i, b := range bs {
		out[i] = builderView{Name: b.Name, Default: b.Name == current, Nodes: make([]nodeView, len(b.Nodes))}
		for j, n := range b.Nodes {
			count++
			go func() {
				defer func() { done <- struct{}{} }()
				s := buildkit.Probe(ctx, n, timeout)
				v := nodeView{Name: n.Name, Addr: n.Addr, Reachable: s.Reachable(), Version: s.Version, TLS: !n.TLS.IsZero()}
				for _, p := range s.Native {
					v.Native = append(v.Native, platform.Format(p))
				}
				for _, p := range s.Platforms {
					v.Platforms = append(v.Platforms, platform.Format(p))
				}
				if s.Err != nil {
					v.Error = s.Err.Error()
				}
				out[i].Nodes[j] = v
			}()
		}
	}
	for range count {
		<-done
	}
	return out
}

func writeBuilderTable(w io.Writer, views []builderView, local bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tADDRESS\tSTATUS\tPLATFORMS\tBUILDKIT")
	if local {
		fmt.Fprintln(tw, "local"+mark(!anyDefault(views))+"\t(this process)\tready\t(native and emulated; see manyarch binfmt status)\t-")
	}
	var errs []string
	for _, v := range views {
		fmt.Fprintf(tw, "%s%s\t\t\t\t\n", v.Name, mark(v.Default))
		for _, n := range v.Nodes {
			status := "reachable"
			if !n.Reachable {
				status = "unreachable (see below)"
				errs = append(errs, n.Error)
			}
			ps := strings.Join(n.Platforms, ", ")
			if len(n.Native) > 0 {
				ps = strings.Join(n.Native, ", ") + " (native)"
				if extra := otherPlatforms(n.Platforms, n.Native); len(extra) > 0 {
					ps += "; " + strings.Join(extra, ", ")
				}
			}
			ver := n.Version
			if ver == "" {
				ver = "-"
			}
			fmt.Fprintf(tw, "  \\_ %s\t%s\t%s\t%s\t%s\n", n.Name, n.Addr, status, ps, ver)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		fmt.Fprintln(w)
	}
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	return nil
}

func otherPlatforms(all, native []string) []string {
	var out []string
	for _, p := range all {
		found := false
		for _, q := range native {
			found = found || p == q
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

func anyDefault(vs []builderView) bool {
	for _, v := range vs {
		if v.Default {
			return true
		}
	}
	return false
}

func mark(b bool) string {
	if b {
		return " *"
	}
	return ""
}

func newBuilderLsCmd() *cobra.Command {
	var (
		format  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List builders and whether their nodes answer",
		Long: `List the builders (the default marked *) and dial each node, all at once,
within --timeout: reachable or why not, the platforms its workers report
(native first) and its BuildKit version.`,
		Example: `  manyarch builder ls
  manyarch builder ls --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadBuilders()
			if err != nil {
				return err
			}
			views := probeBuilders(cmd.Context(), c.Builders, c.Current, timeout)
			if format == "" || format == "table" {
				return writeBuilderTable(cmd.OutOrStdout(), views, true)
			}
			_, err = writeFormatted(cmd.OutOrStdout(), format, views)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long each node has to answer")
	return cmd
}

func newBuilderInspectCmd() *cobra.Command {
	var (
		format  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "inspect [NAME]",
		Short: "Show a builder's nodes and what they report (default: the default builder)",
		Example: `  manyarch builder inspect local
  manyarch builder inspect --format '{{.name}}'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadBuilders()
			if err != nil {
				return err
			}
			name := c.Current
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" || name == builders.Local {
				if format == "" || format == "table" {
					return writeBuilderTable(cmd.OutOrStdout(), nil, true)
				}
				_, err := writeFormatted(cmd.OutOrStdout(), format, builderView{Name: builders.Local, Default: c.Current == "", Nodes: []nodeView{}})
				return err
			}
			b, err := c.Get(name)
			if err != nil {
				return err
			}
			views := probeBuilders(cmd.Context(), []builders.Builder{b}, c.Current, timeout)
			if format == "" || format == "table" {
				return writeBuilderTable(cmd.OutOrStdout(), views, false)
			}
			_, err = writeFormatted(cmd.OutOrStdout(), format, views[0])
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long each node has to answer")
	return cmd
}

func newBuilderRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Short:   "Remove a builder (the nodes are not touched)",
		Example: `  manyarch builder create old --node tcp://127.0.0.1:1234 && manyarch builder rm old`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := builderStore()
			if err != nil {
				return err
			}
			return bs.Update(cmd.Context(), func(c *builders.Config) error { return c.Remove(args[0]) })
		},
	}
}

func newBuilderUseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "use NAME",
		Short: "Make a builder the default of build (local: the built-in engine)",
		Example: `  manyarch builder create one --node unix:///run/buildkit/buildkitd.sock && manyarch builder use one
  manyarch builder use local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := builderStore()
			if err != nil {
				return err
			}
			return bs.Update(cmd.Context(), func(c *builders.Config) error { return c.Use(args[0]) })
		},
	}
}
