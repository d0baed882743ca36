package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// checkResult is `manyarch check --format json`: the store's report, and with
// --repair what was done about each problem.
type checkResult struct {
	*store.CheckReport
	Repairs []checkRepair `json:"repairs,omitempty"`
	// After is the check run after --repair.
	After *store.CheckReport `json:"after,omitempty"`
}

type checkRepair struct {
	Digest string `json:"digest"`
	Action string `json:"action"` // "removed", "refetched", "left"
	From   string `json:"from,omitempty"`
	Error  string `json:"error,omitempty"`
}

func newCheckCmd(g *globalOptions) *cobra.Command {
	var (
		format string
		repair bool
		rf     remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the store: rehash every blob and walk every image",
		Long: `Check the store's integrity (an fsck): rehash every blob against its digest,
read index.json, and walk every named image's tree (manifests, configs,
layers, child manifests), reporting each corrupt, missing or mismatched blob
with the images that use it and what to do.

With --repair, a corrupt blob that no image uses is removed, and one that an
image uses is removed and fetched again from the registry repository that
image was pulled from (recorded at pull time); for an image whose source is
not recorded, it says which image to pull again. Only blobs that fail their
rehash are ever removed.

--format json prints the report (root, blobs, bytes, images, problems: kind,
digest, size, path, message, usedBy, sources; and repairs).

Exit status: 0 when the store is sound (after --repair: when every problem was
repaired), 1 otherwise.`,
		Example: `  manyarch check
  manyarch check --repair
  manyarch check --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if format != "" && format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			if err := rf.Validate(); err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			st, err := env.Store(ctx)
			if err != nil {
				return err
			}
			rep, err := st.Check(ctx)
			if err != nil {
				return err
			}
			res := checkResult{CheckReport: rep}
			if repair && !rep.OK() {
				res.Repairs = repairStore(ctx, st, rep, env)
				if rep, err = st.Check(ctx); err != nil {
					return err
				}
				res.After = rep
			}
			if format == "json" {
				if _, err := writeFormatted(cmd.OutOrStdout(), "json", res); err != nil {
					return err
				}
			} else {
				writeCheckText(cmd.OutOrStdout(), res, rep)
			}
			if !rep.OK() {
				return &ExitError{Code: 1, Err: fmt.Errorf("the store %s has %d problems (see above)", rep.Root, len(rep.Problems))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", `output format: "table" (default) or "json"`)
	cmd.Flags().BoolVar(&repair, "repair", false, "remove corrupt blobs and fetch the ones images use again from where they were pulled")
	rf.AddFlags(cmd)
	return cmd
}

// repairStore removes every corrupt blob (RemoveCorruptBlob rehashes first,
// so a good one never goes) and fetches again the ones images use, from the
// first source that gives a blob matching the digest and size.
func repairStore(ctx context.Context, st *store.Store, rep *store.CheckReport, env *ref.Env) []checkRepair {
	var out []checkRepair
	for _, p := range rep.Problems {
		if p.Kind != store.ProblemCorruptBlob && p.Kind != store.ProblemMissingBlob {
			continue
		}
		h, err := v1.NewHash(p.Digest)
		if err != nil {
			continue
		}
		r := checkRepair{Digest: p.Digest}
		if p.Kind == store.ProblemCorruptBlob {
			if err := st.RemoveCorruptBlob(ctx, h); err != nil {
				r.Action, r.Error = "left", err.Error()
				out = append(out, r)
				continue
			}
			r.Action = "removed"
		}
		if len(p.UsedBy) > 0 {
			r.Action = "left"
			if len(p.Sources) == 0 {
				r.Error = fmt.Sprintf("used by %s, whose source is not recorded: pull, build or import %s again", p.UsedBy[0], p.UsedBy[0])
			}
			var errs []error
			for _, src := range p.Sources {
				if err := refetch(ctx, st, env, src, h, p.Size); err != nil {
					errs = append(errs, fmt.Errorf("from %s: %w", src, err))
					continue
				}
				r.Action, r.From, r.Error = "refetched", src, ""
				break
			}
			if r.Action != "refetched" && len(errs) > 0 {
				r.Error = fmt.Sprintf("%v; pull %s again", errors.Join(errs...), p.UsedBy[0])
			}
		}
		out = append(out, r)
	}
	return out
}

func refetch(ctx context.Context, st *store.Store, env *ref.Env, repo string, h v1.Hash, size int64) error {
	blobs, err := remote.OpenBlobs(ctx, repo, env.Remote...)
	if err != nil {
		return err
	}
	rc, err := blobs.OpenSized(ctx, h, size)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = st.WriteBlob(ctx, rc, h, size)
	return err
}

func writeCheckText(w io.Writer, res checkResult, after *store.CheckReport) {
	rep := res.CheckReport
	fmt.Fprintf(w, "Checked %s: %d blobs (%s), %d images\n", rep.Root, rep.Blobs, humanSize(rep.Bytes), rep.Images)
	if len(rep.Problems) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROBLEM\tBLOB\tUSED BY\tWHAT TO DO")
		for _, p := range rep.Problems {
			blob, users := p.Digest, "-"
			if blob == "" {
				blob = p.Path
			}
			if len(p.UsedBy) > 0 {
				users = strings.Join(p.UsedBy, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Kind, blob, users, userText(p.Message))
		}
		tw.Flush()
	}
	for _, r := range res.Repairs {
		switch {
		case r.Action == "refetched":
			fmt.Fprintf(w, "repaired %s: fetched again from %s\n", r.Digest, r.From)
		case r.Error != "":
			fmt.Fprintf(w, "not repaired %s: %s\n", r.Digest, r.Error)
		default:
			fmt.Fprintf(w, "repaired %s: %s\n", r.Digest, r.Action)
		}
	}
	if after.OK() {
		fmt.Fprintln(w, "The store is sound.")
	} else if len(res.Repairs) > 0 {
		fmt.Fprintf(w, "%d problems remain.\n", len(after.Problems))
	}
}
