// Package cgroup bounds the memory of a group of processes with a Linux
// control group, for manyarch build --memory-limit, and the number of tasks
// of a sandbox (NewPids: the pids controller, v1 or v2, pids.max and the
// refused forks of pids.events).
//
// NewMemory creates a cgroup below the calling process's own memory cgroup
// (cgroup v1 when the memory controller is mounted there, as on hybrid
// hosts, else cgroup v2) whose limit covers memory and swap together.
// Child gives each RUN step its own cgroup inside it, so the whole build
// shares one limit while an out-of-memory kill is attributed to the step
// whose process was killed (OOMKills). The sandbox puts its init in a
// cgroup by writing its pid to CgroupProcs(Dir()) before the command starts,
// so every process of the step is inside from its first instruction.
//
// Cgroups are directories named manyarch-PID-N; Remove deletes one when its
// processes are gone, and NewMemory removes the empty ones a killed manyarch
// left behind.
//
// Writing a cgroup needs root or a delegated subtree; the errors say which
// directory could not be written and what to do.
package cgroup
