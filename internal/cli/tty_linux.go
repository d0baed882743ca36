package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/progress"
)

// terminal is the pseudo-terminal of `run -t`: the container's standard
// streams are its peer end; manyarch copies between its master end and
// its own streams, as docker run -t does.
type terminal struct {
	master, peer *os.File
	out          chan struct{} // closed when the master's output is copied
	restore      func()        // puts the caller's terminal back
	stopResize   func()
	closeOnce    sync.Once
}

// openTerminal allocates a pseudo-terminal for a container. With
// interactive, stdin (which must then be a terminal, as for docker run
// -it) is put in raw mode and copied in, so that ^C and the like reach the
// container's line discipline; the terminal's window size follows the
// caller's.
func openTerminal(stdin io.Reader, stdout io.Writer, interactive bool) (*terminal, error) {
	in, inIsFile := stdin.(*os.File)
	inTerm := inIsFile && progress.IsTerminal(in)
	if interactive && !inTerm {
		return nil, errors.New("the input device is not a terminal: -it needs one (leave out -t to pipe input with -i)")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("allocating a pseudo-terminal for -t: %w", err)
	}
	peer, err := openPeer(master)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("allocating a pseudo-terminal for -t: %w", err)
	}
	t := &terminal{master: master, peer: peer, out: make(chan struct{}), restore: func() {}, stopResize: func() {}}

	// The window size follows the caller's terminal: stdin's, else stdout's.
	var sizeFrom *os.File
	if inTerm {
		sizeFrom = in
	} else if f, ok := stdout.(*os.File); ok && progress.IsTerminal(f) {
		sizeFrom = f
	}
	if sizeFrom != nil {
		t.copySize(sizeFrom)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-winch:
					t.copySize(sizeFrom)
				case <-stop:
					return
				}
			}
		}()
		t.stopResize = func() { signal.Stop(winch); close(stop) }
	}
	if interactive {
		restore, err := makeRaw(in)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("putting the terminal in raw mode for -it: %w", err)
		}
		t.restore = restore
		go func() {
			// Not waited for: a terminal read blocks until the next key.
			_, _ = io.Copy(master, in)
		}()
	}
	go func() {
		defer close(t.out)
		// Ends with EIO once every holder of the peer end has closed it.
		_, _ = io.Copy(stdout, master)
	}()
	return t, nil
}

// Peer is the container's end of the terminal.
func (t *terminal) Peer() *os.File { return t.peer }

// Close ends the terminal once the container has exited: the output the
// container wrote is copied out first (bounded, in case a process outside
// the container still holds the peer end), then the caller's terminal is
// restored.
func (t *terminal) Close() {
	t.closeOnce.Do(func() {
		t.peer.Close()
		select {
		case <-t.out:
		case <-time.After(2 * time.Second):
		}
		t.master.Close()
		t.stopResize()
		t.restore()
	})
}

func (t *terminal) copySize(from *os.File) {
	if ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ); err == nil {
		_ = unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// openPeer opens the peer end of master: by TIOCGPTPEER (Linux 4.13),
// which needs no path, else by the /dev/pts name.
func openPeer(master *os.File) (*os.File, error) {
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlocking: %w", err)
	}
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno == 0 {
		return os.NewFile(fd, "/dev/pts (container terminal)"), nil
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("finding the peer: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	return os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
}

// makeRaw puts terminal f in raw mode (cfmakeraw) and returns what undoes it.
func makeRaw(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
