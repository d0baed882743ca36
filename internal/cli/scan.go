package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/sbom"
	"github.com/manyarch/manyarch/internal/scan"
)

func newScanCmd(g *globalOptions) *cobra.Command {
	var (
		db     string
		format string
		failOn string
		pf     platformFlags
		rf     remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "scan --db PATH REF",
		Short: "Match every platform's packages against an OSV vulnerability database, offline",
		Long: `Match the packages of every platform of an image (what 'manyarch sbom' lists)
against an OSV vulnerability database on disk; nothing is fetched.

--db is a directory of OSV JSON records or a .zip of them, as osv.dev exports
each ecosystem (https://osv-vulnerabilities.storage.googleapis.com/ECOSYSTEM/all.zip
for Go, Debian, Alpine, ...); a directory may hold several such zips. A record
that cannot be read is an error naming the file (and zip entry): a scan does
not report less than its database says. Withdrawn records are left out.

Matched:
  dpkg packages  Debian (Debian:12, by os-release) and Ubuntu records, by
                 SOURCE package, in dpkg's version order
  apk packages   Alpine (Alpine:v3.20), Wolfi and Chainguard records, by
                 origin, in apk's version order (_rc < release < _p, -rN)
  rpms           Red Hat (binary or source rpm; enterprise_linux streams of
                 the image's major release), Rocky Linux:9, AlmaLinux:9,
                 openSUSE and SUSE (os-release's PRETTY_NAME) records, by
                 source package, in rpm's version order (epoch:version-release)
  Go binaries    Go records: every module, and the standard library as
                 "stdlib" at the version that built the binary
Other ecosystems (npm, pip, ...) are not catalogued yet, so not scanned.

Severity: the CVSS v3 (else v2) base score of the record's vector, else the
source's own rating (database_specific.severity), else UNKNOWN. The Go
database gives no severity: its findings are UNKNOWN, which only
--fail-on unknown fails on.

--format table (default), json (docs/json.md), or sarif (SARIF 2.1.0, one
result per platform and package, for code-scanning UIs).

Exit status: 1 when a finding is rated at or above --fail-on (unknown, low,
medium, high, critical; unknown means any finding), or on an error; else 0.`,
		Example: `  manyarch scan --db osv/ hello:1.0
  manyarch scan --db osv/ --fail-on high --platform linux/arm64 fixtures/hello:1.0
  manyarch scan --db osv/ --format sarif hello:1.0 > scan.sarif`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case "table", "json", "sarif":
			default:
				return newUsageError(cmd, fmt.Errorf("--format %q: use table, json or sarif", format))
			}
			var min scan.Rating
			if failOn != "" {
				var err error
				if min, err = scan.ParseRating(failOn); err != nil {
					return newUsageError(cmd, fmt.Errorf("--fail-on: %v", err))
				}
			}
			if db == "" {
				return newUsageError(cmd, fmt.Errorf("--db is required: a directory or .zip of OSV JSON records (osv.dev exports ECOSYSTEM/all.zip)"))
			}
			s, err := parseSource(&rf, &pf, args[0], nil)
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			a, err := s.read(ctx, env)
			if err != nil {
				return err
			}
			invs, err := sbom.CatalogArtifact(ctx, a, rf.jobs)
			if err != nil {
				return fmt.Errorf("%s: %w", s.ref, err)
			}
			if len(invs) == 0 {
				return fmt.Errorf("%s has no runnable image to scan", s.ref)
			}
			d, err := scan.Load(ctx, db, scan.Wanted(invs))
			if err != nil {
				return err
			}
			rep, err := scan.Match(d, invs)
			if err != nil {
				return fmt.Errorf("scanning %s: %w", s.ref, err)
			}
			rep.Reference = s.ref.String()
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				err = scan.WriteJSON(out, rep)
			case "sarif":
				err = scan.WriteSARIF(out, rep)
			default:
				err = scan.WriteTable(out, rep)
			}
			if err != nil {
				return err
			}
			if failOn != "" {
				if n := rep.AtLeast(min); n > 0 {
					return &ExitError{Code: 1, Err: fmt.Errorf("%d vulnerabilit%s rated %s or worse (--fail-on %s)", n, map[bool]string{true: "y", false: "ies"}[n == 1], min, strings.ToLower(failOn))}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "OSV database: a directory or .zip of OSV JSON records (required)")
	cmd.Flags().StringVar(&format, "format", "table", "table, json or sarif")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when a finding is rated this or worse: unknown, low, medium, high or critical")
	pf.AddFlags(cmd, "scan only these platforms (comma list, repeatable)")
	rf.AddFlags(cmd)
	return cmd
}
