package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sbom"
)

func newSBOMCmd(g *globalOptions) *cobra.Command {
	var (
		format string
		outDir string
		pf     platformFlags
		rf     remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "sbom REF",
		Short: "List the packages of every platform of an image (SPDX, CycloneDX or a table)",
		Long: `List the software packages of an image, per platform, from its flattened file
system (what a container sees): Debian packages (dpkg's status and status.d),
Alpine packages (apk's installed database), rpms (rpm's database: sqlite with
its -wal file, Berkeley DB or ndb, under /var/lib/rpm or
/usr/lib/sysimage/rpm), and for every Go binary its main module, the modules
it was built with and the Go standard library at the version that built it
(pkg:golang/stdlib@1.26.8). Other ecosystems (npm, pip, ...) are not read yet.

Any image works, built here or not: a store name, docker://, oci:, archives.
Attestation manifests in an index are skipped.

--format table (default) prints a table per platform; spdx-json (SPDX 2.3) and
cyclonedx-json (CycloneDX 1.6) print one document, so an index of several
platforms needs --platform or -o DIR (one file per platform,
DIR/linux_arm64.spdx.json). SOURCE_DATE_EPOCH sets the documents' creation
time.`,
		Example: `  manyarch sbom fixtures/busybox:1.35
  manyarch sbom --platform linux/arm64 --format spdx-json hello:1.0 > hello-arm64.spdx.json
  manyarch sbom --format cyclonedx-json -o sboms/ hello:1.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch format {
			case sbom.FormatTable, sbom.FormatSPDX, sbom.FormatCycloneDX:
			default:
				return fmt.Errorf("--format %q: use table, spdx-json or cyclonedx-json", format)
			}
			created, err := sbomCreated()
			if err != nil {
				return err
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
			invs, err := sbom.CatalogArtifact(ctx, a, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", s.ref, err)
			}
			if len(invs) == 0 {
				return fmt.Errorf("%s has no runnable image to describe", s.ref)
			}
			if format != sbom.FormatTable && len(invs) > 1 && outDir == "" {
				var ps []string
				for _, in := range invs {
					ps = append(ps, platform.Format(in.Platform))
				}
				return fmt.Errorf("%s has %d platforms (%s) and --format %s prints one document: choose one with --platform, or write one file per platform with -o DIR",
					s.ref, len(invs), strings.Join(ps, ", "), format)
			}
			// Every document is made before anything is written.
			docs := make([][]byte, len(invs))
			for i, in := range invs {
				var b bytes.Buffer
				subj := sbom.Subject{Name: s.ref.String(), Digest: in.Digest.String(), Platform: platform.Format(in.Platform)}
				if format == sbom.FormatTable && outDir == "" && len(invs) > 1 {
					if i > 0 {
						b.WriteString("\n")
					}
					fmt.Fprintf(&b, "%s (%s)\n", subj.Platform, in.Digest)
				}
				if err := sbom.WriteInventory(&b, format, subj, in.Inventory, created); err != nil {
					return err
				}
				docs[i] = b.Bytes()
			}
			if outDir == "" {
				for _, d := range docs {
					if _, err := cmd.OutOrStdout().Write(d); err != nil {
						return err
					}
				}
				return nil
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return fmt.Errorf("-o %s: %w", outDir, err)
			}
			ext := map[string]string{sbom.FormatTable: ".txt", sbom.FormatSPDX: ".spdx.json", sbom.FormatCycloneDX: ".cdx.json"}[format]
			for i, in := range invs {
				name := filepath.Join(outDir, strings.ReplaceAll(platform.Format(in.Platform), "/", "_")+ext)
				if err := fsutil.WriteFileBytes(name, 0o644, docs[i]); err != nil {
					return fmt.Errorf("-o %s: %w", outDir, err)
				}
				fmt.Fprintln(cmd.ErrOrStderr(), name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", sbom.FormatTable, "table, spdx-json or cyclonedx-json")
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "write one file per platform into DIR (OS_ARCH[_VARIANT].spdx.json, .cdx.json or .txt)")
	pf.AddFlags(cmd, "describe only these platforms (comma list, repeatable)")
	rf.AddFlags(cmd)
	return cmd
}

// sbomCreated is the documents' creation time: SOURCE_DATE_EPOCH, else now.
func sbomCreated() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}
