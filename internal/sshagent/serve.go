package sshagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// socketName is the socket's name in its directory (BuildKit's too).
const socketName = "ssh_auth_sock"

// maxSocketPath is the longest socket path Serve makes: sun_path holds 108
// bytes on Linux and 104 on the BSDs and macOS, with the final NUL.
const maxSocketPath = 100

// SocketOptions say where and for whom Serve makes its socket.
type SocketOptions struct {
	// Dir is where the socket's private directory is made (the step's own
	// temporary directory); when the socket's path would be too long for a
	// unix socket there, os.TempDir() is used instead.
	Dir string
	// UID and GID own the socket (a RUN mount's uid= and gid=, 0 by
	// default), set when this process may change owners (as root); else
	// the socket stays this process's, which is root in a rootless
	// sandbox.
	UID, GID int
	// Mode is the socket's permission bits; 0 means 0600, as BuildKit's.
	Mode fs.FileMode
}

// Server serves one id on a unix socket until Close.
type Server struct {
	// Socket is the socket's path on the host, to bind into a sandbox.
	Socket string

	dir   string
	l     net.Listener
	src   *source
	stop  func() bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool

	closeOnce sync.Once
	closeErr  error
}

// Serve starts serving id on a new socket in a new private (0700)
// directory, until Close or the end of ctx. It fails for an id Load did
// not get.
func (a *Agents) Serve(ctx context.Context, id string, o SocketOptions) (*Server, error) {
	if !a.Has(id) {
		return nil, fmt.Errorf("no --ssh %s was given", id)
	}
	dir, err := socketDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{Socket: filepath.Join(dir, socketName), dir: dir, src: a.byID[id], conns: map[net.Conn]struct{}{}}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", s.Socket)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("serving the ssh agent %s: %w", id, err)
	}
	s.l = l
	mode := o.Mode.Perm()
	if o.Mode == 0 {
		mode = 0o600
	}
	if err := os.Chown(s.Socket, o.UID, o.GID); err != nil && os.Geteuid() == 0 {
		s.Close()
		return nil, fmt.Errorf("serving the ssh agent %s: %w", id, err)
	}
	if err := os.Chmod(s.Socket, mode); err != nil {
		s.Close()
		return nil, fmt.Errorf("serving the ssh agent %s: %w", id, err)
	}
	s.stop = context.AfterFunc(ctx, func() { s.Close() })
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// socketDir makes the private directory of a socket under parent, or
// under os.TempDir() when parent's path is too long for a socket.
func socketDir(parent string) (string, error) {
	for _, p := range []string{parent, os.TempDir()} {
		// MkdirTemp adds up to 20 characters to the pattern.
		if p == "" || len(filepath.Join(p, "ssh-01234567890123456789", socketName)) > maxSocketPath {
			continue
		}
		d, err := os.MkdirTemp(p, "ssh-")
		if err != nil {
			return "", fmt.Errorf("making the ssh agent's directory: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			os.RemoveAll(d)
			return "", fmt.Errorf("making the ssh agent's directory: %w", err)
		}
		return d, nil
	}
	return "", fmt.Errorf("no directory for the ssh agent's socket: %s and %s are longer than a unix socket's path allows (%d bytes): set TMPDIR to a shorter directory", parent, os.TempDir(), maxSocketPath)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.src.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops serving: no new connection, the open ones closed, the
// socket and its directory removed. It is safe to call more than once and
// from several goroutines; each call returns when the server has stopped.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.done = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		if s.stop != nil {
			s.stop()
		}
		err := s.l.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.wg.Wait()
		if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
			err = rerr
		}
		s.closeErr = err
	})
	return s.closeErr
}
