// Package loadgen is manyarch's HTTP load generator for service tests: a
// fixed number of requests at a concurrency (as ab -n N -c C), or requests
// for a duration (ab -t), against one container's published address.
//
// It is bounded in every direction: at most MaxRequests requests and
// MaxConcurrency workers, at most MaxDuration of sending, each request
// within its own timeout, and the response bodies read at most
// MaxBodyRead bytes. It sends to loopback addresses only (127.0.0.0/8 and
// ::1; Options.Target is an address, never a name to resolve), so a test
// file cannot aim it anywhere else; redirects are not followed.
//
// Run measures each request from the moment it is written to the end of
// its body, keeps every latency (percentiles are exact, nearest-rank) and
// counts responses by status and errors by kind. It prints nothing and
// returns a Result; a failed request is data, not an error. The error
// return means the load could not run at all (a bad option).
package loadgen
