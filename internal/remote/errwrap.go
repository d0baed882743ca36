package remote

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// wrap turns a go-containerregistry or network error into one that names the
// operation and reference, wraps the matching sentinel, and says what to do.
func (o *options) wrap(op string, ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	host := ref.Context().RegistryStr()
	prefix := fmt.Sprintf("%s %s", op, ref)
	err = readable(err)

	var dns *net.DNSError
	if errors.As(err, &dns) && !dns.IsTemporary && !dns.IsTimeout {
		return fmt.Errorf("%s: %w: %q does not resolve; check the host name and your network or proxy settings (%w)", prefix, ErrUnknownHost, host, err)
	}
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	if errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
		return fmt.Errorf("%s: %w: TLS verification of %s failed; install its CA certificate, or use --insecure for a self-signed registry (%w)", prefix, ErrUnreachable, host, err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || hasCode(te, transport.UnauthorizedErrorCode):
			if o.hasCredentials(ref) {
				return fmt.Errorf("%s: %w: %s rejected the credentials from the keychain: run `manyarch login %s` (or `docker login %s`) again (%w)", prefix, ErrUnauthorized, host, host, host, err)
			}
			return fmt.Errorf("%s: %w: run `manyarch login %s` (or `docker login %s`) (%w)", prefix, ErrUnauthorized, host, host, err)
		case hasCode(te, transport.DigestInvalidErrorCode) || hasCode(te, transport.SizeInvalidErrorCode):
			return fmt.Errorf("%s: %w: the registry received content that does not match its digest; the source is damaged (%w)", prefix, ErrDigestMismatch, err)
		case te.StatusCode == http.StatusForbidden || hasCode(te, transport.DeniedErrorCode):
			return fmt.Errorf("%s: %w: the credentials for %s do not allow this on %s; check the account's permissions (%w)", prefix, ErrDenied, host, ref.Context().RepositoryStr(), err)
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode) || hasCode(te, transport.NameUnknownErrorCode):
			what := "check the name and tag"
			if _, ok := ref.(name.Digest); ok {
				what = "check the name and digest"
			}
			return fmt.Errorf("%s: %w: %s (%w)", prefix, ErrNotFound, what, err)
		case te.Temporary():
			return fmt.Errorf("%s: the registry kept failing after %d retries; try again later (%w)", prefix, o.retries, err)
		}
		return fmt.Errorf("%s: %w", prefix, err)
	}
	var stall *StallError
	if errors.As(err, &stall) {
		return fmt.Errorf("%s: the connection to %s kept stalling after %d retries; check the network and try again (%w)", prefix, host, o.retries, err)
	}
	if strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("%s: %w: the registry served content that does not hash to its digest; the registry or a proxy is corrupting data (%w)", prefix, ErrDigestMismatch, err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: %w: nothing accepts connections at %s; is the registry running on that port? (%w)", prefix, ErrUnreachable, host, err)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%s: %w: %s speaks plain HTTP; use --insecure to allow it (%w)", prefix, ErrUnreachable, host, err)
	}
	if Transient(err) {
		return fmt.Errorf("%s: still failing after %d retries; try again later (%w)", prefix, o.retries, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// readable returns err with the text of any registry error in it rewritten
// as people read it: go-containerregistry prints a diagnostic's detail with
// %v, so an authentication failure ends in
// "[map[Action:pull Class: Name:demo/app Type:repository]]". errors.As and
// errors.Is still reach err through it.
func readable(err error) error {
	te := asTransportError(err)
	if te == nil {
		return err
	}
	var c *readableError
	if errors.As(err, &c) {
		return err
	}
	return &readableError{err: err, text: strings.Replace(err.Error(), te.Error(), describeTransportError(te), 1)}
}

type readableError struct {
	err  error
	text string
}

func (e *readableError) Error() string { return e.text }
func (e *readableError) Unwrap() error { return e.err }

// describeTransportError is te's text with every diagnostic's detail as
// words: an access scope as "needs pull access to repository demo/app",
// other structured details as key=value.
func describeTransportError(te *transport.Error) string {
	if len(te.Errors) == 0 {
		return te.Error()
	}
	var b strings.Builder
	if te.Request != nil && te.Request.URL != nil {
		u := *te.Request.URL
		u.User, u.RawQuery = nil, ""
		fmt.Fprintf(&b, "%s %s: ", te.Request.Method, u.String())
	}
	for i, d := range te.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", d.Code, d.Message)
		if s := describeDetail(d.Detail); s != "" {
			fmt.Fprintf(&b, " (%s)", s)
		}
	}
	return b.String()
}

// describeDetail renders a registry error's detail (any JSON value).
func describeDetail(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			if s := describeDetail(x); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		// The distribution spec's access scope for UNAUTHORIZED and DENIED.
		if typ, ok := v["Type"].(string); ok {
			if n, ok := v["Name"].(string); ok {
				if a, ok := v["Action"].(string); ok {
					return fmt.Sprintf("needs %s access to %s %s", a, typ, n)
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			if s := describeDetail(v[k]); s != "" {
				parts = append(parts, k+"="+s)
			}
		}
		return strings.Join(parts, " ")
	case float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// hasCredentials reports whether the keychain has anything for ref's registry.
func (o *options) hasCredentials(ref name.Reference) bool {
	a, err := o.keychain.Resolve(ref.Context().Registry)
	if err != nil || a == nil || a == authn.Anonymous {
		return false
	}
	cfg, err := a.Authorization()
	if err != nil || cfg == nil {
		return false
	}
	return *cfg != authn.AuthConfig{}
}

func asTransportError(err error) *transport.Error {
	var te *transport.Error
	if errors.As(err, &te) {
		return te
	}
	return nil
}
