//go:build !linux

package cgroup

// Memory is a memory-limited cgroup; there are none outside Linux.
type Memory struct{}

// NewMemory returns ErrUnsupported outside Linux.
func NewMemory(limit int64) (*Memory, error) { return nil, ErrUnsupported }

// Child returns ErrUnsupported outside Linux.
func (m *Memory) Child() (*Memory, error) { return nil, ErrUnsupported }

// Dir is empty outside Linux.
func (m *Memory) Dir() string { return "" }

// Limit is 0 outside Linux.
func (m *Memory) Limit() int64 { return 0 }

// Add returns ErrUnsupported outside Linux.
func (m *Memory) Add(pid int) error { return ErrUnsupported }

// AddProcess returns ErrUnsupported outside Linux.
func AddProcess(dir string, pid int) error { return ErrUnsupported }

// OOMKills returns ErrUnsupported outside Linux.
func (m *Memory) OOMKills() (uint64, error) { return 0, ErrUnsupported }

// Peak is 0 outside Linux.
func (m *Memory) Peak() int64 { return 0 }

// Remove does nothing outside Linux.
func (m *Memory) Remove() error { return nil }

// Pids is a pids-limited cgroup; there are none outside Linux.
type Pids struct{}

// NewPids returns ErrUnsupported outside Linux.
func NewPids(parent string, limit int64) (*Pids, error) { return nil, ErrUnsupported }

// Dir is empty outside Linux.
func (p *Pids) Dir() string { return "" }

// Limit is 0 outside Linux.
func (p *Pids) Limit() int64 { return 0 }

// Add returns ErrUnsupported outside Linux.
func (p *Pids) Add(pid int) error { return ErrUnsupported }

// Refused returns ErrUnsupported outside Linux.
func (p *Pids) Refused() (uint64, error) { return 0, ErrUnsupported }

// Remove does nothing outside Linux.
func (p *Pids) Remove() error { return nil }

// SetMax returns ErrUnsupported outside Linux.
func (p *Pids) SetMax(n int64) error { return ErrUnsupported }
