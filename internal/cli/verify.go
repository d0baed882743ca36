package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/verify"
)

func newVerifyCmd(g *globalOptions) *cobra.Command {
	var (
		format  string
		strict  bool
		require []string
		ignore  []string
		pf      platformFlags
		rf      remoteFlags
	)
	var key string // --key: cosign signatures too (sign.go)
	cmd := &cobra.Command{
		Use:   "verify REF...",
		Short: "Check, without running anything, that every platform's image holds binaries for that platform",
		Long: `Check each platform of an image or index statically:

  - the index: each entry's platform matches its config, no platform twice,
    digests and sizes match, --require'd platforms are present (attestation
    manifests are skipped);
  - the final file system (layers applied in order, whiteouts honoured): every
    ELF file's class, byte order and machine, the ARM version and float ABI,
    Go's GOARCH/GOARM/GOAMD64;
  - what the container needs to start: each dynamically linked program's
    loader, the entrypoint/cmd program through PATH and the working directory,
    and shared libraries (missing ones are warnings).

Each finding names the platform, the layer (and the Dockerfile step that made
it), the path, what was found and expected, and the likely cause and fix.

--format json prints a JSON array with one report per REF (the schema is in
the internal/verify package documentation, schemaVersion 1); --format sarif
prints a SARIF 2.1.0 log with one run per REF, for code-scanning UIs.

-j sets how many layers are read at once (and registry blobs fetched); a
layer several platforms share is read once.

Exit status: 1 when any REF has an error finding (or, with --strict, a
warning) or cannot be read; 0 otherwise.`,
		Example: `  manyarch verify hello:1.0
  manyarch verify --require linux/amd64,linux/arm64 docker://registry.example.com/hello:1.0
  manyarch verify --platform linux/arm/v7 --strict oci:./out
  manyarch verify --ignore /opt/cross/ --ignore '/usr/share/qemu/*' toolbox:1.0
  manyarch verify --format sarif oci-archive:hello.tar > verify.sarif`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return err
			}
			switch format {
			case "text", "table", "json", "sarif":
			default:
				return fmt.Errorf("unknown --format %q: use text, json or sarif", format)
			}
			opts := []verify.Option{verify.WithJobs(rf.jobs), verify.WithLogger(g.logger(cmd.ErrOrStderr()))}
			if len(ignore) > 0 {
				opts = append(opts, verify.WithIgnore(ignore...))
			}
			ps, err := pf.Platforms()
			if err != nil {
				return err
			}
			if len(ps) > 0 {
				opts = append(opts, verify.WithPlatforms(ps...))
			}
			if len(require) > 0 {
				req, err := platform.ParseList(require...)
				if err != nil {
					return fmt.Errorf("--require: %w", err)
				}
				opts = append(opts, verify.WithRequire(req...))
			}
			refs := make([]ref.Reference, len(args))
			for i, a := range args {
				if refs[i], err = ref.Parse(a); err != nil {
					return err
				}
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			var reports []*verify.Report
			failed := false
			for _, r := range refs {
				a, err := ref.Read(ctx, env, r)
				if err != nil {
					return err
				}
				rep, err := verify.Run(ctx, a, opts...)
				if err != nil {
					return fmt.Errorf("verifying %s: %w", r, err)
				}
				rep.Reference = r.String()
				if key != "" {
					if err := verifySignatures(ctx, env, r, a, key, cmd.ErrOrStderr()); err != nil {
						return err
					}
				}
				reports = append(reports, rep)
				failed = failed || rep.Failed(strict)
			}
			if err := writeReports(cmd.OutOrStdout(), format, reports); err != nil {
				return err
			}
			if failed {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", `output format: "text", "json" or "sarif"`)
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	cmd.Flags().StringVar(&key, "key", "", "also check cosign signatures (manyarch sign, cosign sign) of the index and every platform with this public key (cosign.pub)")
	cmd.Flags().StringSliceVar(&require, "require", nil, "platforms the index must have (comma list, repeatable)")
	cmd.Flags().StringArrayVar(&ignore, "ignore", nil, `leave files out of the ELF checks: an absolute path pattern ("/usr/share/qemu/*"), or a directory ending in "/" (repeatable)`)
	pf.AddFlags(cmd, "verify only these platforms of an index; each must be present (comma list, repeatable)")
	rf.AddFlags(cmd)
	return cmd
}

func writeReports(w io.Writer, format string, reports []*verify.Report) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(reports)
	case "sarif":
		return verify.WriteSARIF(w, reports...)
	}
	for i, r := range reports {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := verify.WriteText(w, r); err != nil {
			return err
		}
	}
	return nil
}
