package emulation

import (
	"fmt"
	"log/slog"
)

// Option configures Status, Install, Uninstall and Plan.
type Option func(*options) error

type options struct {
	probe  bool
	force  bool
	logger *slog.Logger
}

func newOptions(opts []Option) (*options, error) {
	o := &options{probe: true, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithProbes says whether Status and Install run probes (default true).
// Without probes, Status takes a handler's presence for emulation and the
// platforms MatchCompat names for native, and Install does not check what
// it registered.
func WithProbes(on bool) Option {
	return func(o *options) error { o.probe = on; return nil }
}

// WithForce makes Install replace, and Uninstall remove, handlers of other
// tools that serve the same platforms (default false: they are reported
// and left alone).
func WithForce(on bool) Option {
	return func(o *options) error { o.force = on; return nil }
}

// WithLogger sets where the package logs what it does (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}
