package remote

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/progress"
)

// Option configures one call of Read, Head, Write or Exists.
type Option func(*options) error

type options struct {
	insecure     bool
	jobs         int
	keychain     authn.Keychain
	progress     progress.Func
	logger       *slog.Logger
	platforms    []specs.Platform
	retries      int
	retryBase    time.Duration
	stallTimeout time.Duration
	userAgent    string
}

const (
	defaultJobs         = 4
	defaultRetries      = 4
	defaultRetryBase    = 500 * time.Millisecond
	defaultStallTimeout = 60 * time.Second
)

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		jobs:         defaultJobs,
		keychain:     authn.DefaultKeychain,
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		retries:      defaultRetries,
		retryBase:    defaultRetryBase,
		stallTimeout: defaultStallTimeout,
		userAgent:    "manyarch",
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithInsecure allows plain HTTP and skips TLS certificate verification for
// every registry host. Default false: HTTPS with verification, except for
// localhost and loopback addresses, where plain HTTP is used as docker does.
func WithInsecure(insecure bool) Option {
	return func(o *options) error {
		o.insecure = insecure
		return nil
	}
}

// WithJobs sets how many blobs move at once per image (a push of an index
// moves up to n for each of its images at once, as crane does). Default 4;
// n must be at least 1.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithKeychain sets where credentials come from. Default
// authn.DefaultKeychain (~/.docker/config.json and its credential helpers);
// authn.NewMultiKeychain combines several.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("keychain must not be nil")
		}
		o.keychain = k
		return nil
	}
}

// WithProgress sends progress events to f, which must be safe for concurrent
// use. Default: no events.
func WithProgress(f func(progress.Event)) Option {
	return func(o *options) error {
		o.progress = f
		return nil
	}
}

// WithLogger logs requests that are retried and other details at debug and
// warn level. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		o.logger = l
		return nil
	}
}

// WithPlatforms selects these platforms out of an index (see the package
// documentation). Default: no selection, everything.
func WithPlatforms(ps []specs.Platform) Option {
	return func(o *options) error {
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("platform %+v needs both an OS and an architecture", p)
			}
		}
		o.platforms = append([]specs.Platform(nil), ps...)
		return nil
	}
}

// WithRetry retries a transient failure up to n times, waiting base, then
// twice as long each time (with 10% jitter). Default 4 retries from 500ms
// (about 7.5s of waiting in all). n = 0 disables retries.
func WithRetry(n int, base time.Duration) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("retries must not be negative, got %d", n)
		}
		if base <= 0 && n > 0 {
			return fmt.Errorf("retry base delay must be positive, got %v", base)
		}
		o.retries, o.retryBase = n, base
		return nil
	}
}

// WithStallTimeout aborts (and retries) a request that moves no bytes for d.
// Default 60s. It guards against connections that stay open but go silent.
func WithStallTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("stall timeout must be positive, got %v", d)
		}
		o.stallTimeout = d
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default "manyarch".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}
