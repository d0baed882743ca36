package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

func newPruneCmd(g *globalOptions) *cobra.Command {
	var keep string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache, least recently used first, and free the space",
		Long: `Remove build cache, least recently used first, until it takes at most
--keep-storage (all of it without the flag): step cache records and the
directories of RUN --mount=type=cache (a Go or apt cache, say; one that a
running build uses stays). Then remove the blobs that nothing references any
more, as 'manyarch gc' does, and the unpacked layer directories that builds,
'run' and 'test' make (in what --keep-storage leaves; none while one of
those runs, as they use them: prune again later). Images with a name are
never touched, nor the layers they use; unpacked layers are made again from
the store when needed.`,
		Example: `  manyarch prune
  manyarch prune --keep-storage 2GB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var limit int64
			if keep != "" {
				n, err := parseSize(keep)
				if err != nil {
					return fmt.Errorf("--keep-storage: %w", err)
				}
				limit = n
			}
			env := g.newEnv(cmd.ErrOrStderr(), nil)
			env.HoldStore = false // it collects garbage itself
			defer env.Close()
			st, err := env.Store(ctx)
			if err != nil {
				return err
			}
			// Refuse a store whose names cannot be read before anything goes.
			if _, err := st.Names(ctx); err != nil {
				return fmt.Errorf("pruning %s: %w", st.Root(), err)
			}
			ps, err := engine.PruneCache(ctx, st, limit)
			if err != nil {
				return fmt.Errorf("pruning the build cache in %s: %w", st.Root(), err)
			}
			stats, err := collectGarbage(cmd, st)
			if err != nil {
				return err
			}
			// Unpacked layers share what --keep-storage leaves.
			var snaps snapshot.PruneStats
			snap, err := snapshot.NewSnapshotter(st.Layout().Snapshots())
			if err == nil {
				snaps, err = snap.PruneUnused(ctx, max(limit-ps.Kept, 0))
			}
			switch {
			case errors.Is(err, snapshot.ErrInUse):
				fmt.Fprintf(cmd.ErrOrStderr(), "manyarch: unpacked layers left alone: %v; prune again when it ends\n", err)
			case err != nil:
				return fmt.Errorf("pruning unpacked layers in %s: %w", st.Root(), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %d build cache records (%s of layers), %d cache mounts (%s) and %d unpacked layers (%s); deleted %d blobs, %s freed\n",
				ps.Records, humanSize(ps.RecordBytes), ps.Mounts, humanSize(ps.MountBytes), snaps.Removed, humanSize(snaps.Bytes),
				stats.BlobsRemoved, humanSize(stats.BytesFreed+ps.MountBytes+snaps.Bytes))
			return nil
		},
	}
	cmd.Flags().StringVar(&keep, "keep-storage", "", "keep this much build cache, most recently used first (for example 10GB, 512MiB)")
	return cmd
}

// parseSize reads a size such as "10GB", "512MiB", "1.5g" or "1048576".
// Units are decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB); the
// one-letter forms k, m, g, t are binary, as docker's are.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size: use a number with an optional unit (10GB, 512MiB, 1g)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	return int64(v * mult), nil
}

// collectGarbage runs st's GC, first saying on stderr when it has to wait
// for other manyarch processes that read or write the store (GC waits for
// them to end: silently, gc looked hung).
func collectGarbage(cmd *cobra.Command, st *store.Store) (store.GCStats, error) {
	if busy, err := st.InUse(); err == nil && busy {
		fmt.Fprintf(cmd.ErrOrStderr(), "manyarch: waiting for the other manyarch commands using %s (reading, writing or building) to finish\n", st.Root())
	}
	return st.GC(cmd.Context())
}
