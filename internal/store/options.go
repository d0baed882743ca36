package store

import (
	"context"
	"errors"
	"log/slog"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Option configures Open.
type Option func(*options) error

type options struct {
	logger         *slog.Logger
	fsync          bool
	verifyExisting bool
	jobs           int
	gcRoots        []func(context.Context) ([]v1.Hash, error)
}

func defaultOptions() options {
	return options{
		logger: slog.New(slog.DiscardHandler),
		fsync:  true,
		jobs:   4,
	}
}

// WithLogger sets the logger for debug records of blob writes and GC removals.
// Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithFsync turns fsync of files and directories on or off. Default: true.
// Off trades crash safety for speed and is only fit for throwaway stores
// (tests, scratch layouts that are copied elsewhere).
func WithFsync(on bool) Option {
	return func(o *options) error {
		o.fsync = on
		return nil
	}
}

// WithVerifyExisting makes WriteBlob re-hash a blob that is already present
// instead of trusting its name and size. Default: false (writing an existing
// blob costs one stat).
func WithVerifyExisting(on bool) Option {
	return func(o *options) error {
		o.verifyExisting = on
		return nil
	}
}

// WithJobs sets how many layers WriteImage writes at once. Default: 4.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("WithJobs: need at least 1 job")
		}
		o.jobs = n
		return nil
	}
}

// WithGCRoots adds a hook that GC calls, under its exclusive lock, for extra
// digests to keep (with everything they reference, when they are manifests or
// indexes). It complements the ROOT/roots/ files (see SetRoots), which every
// process sees; a hook only protects blobs from GC run by this process.
// Default: none.
func WithGCRoots(f func(ctx context.Context) ([]v1.Hash, error)) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("WithGCRoots: nil func")
		}
		o.gcRoots = append(o.gcRoots, f)
		return nil
	}
}
