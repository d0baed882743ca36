// Package plantest holds what tests of the planner (internal/plan) and of
// its consumers (internal/engine's tests, testdata/dockerfile/bkdiff) share:
// Images, a table of fake base images, and Resolver, a plan.BaseResolver
// serving them; ParseHeader and Options, the plan.Options a golden
// Dockerfile's "# plan:" header asks for; and Plan, which plans a Dockerfile
// or fails the test.
//
// It is for tests only: nothing outside tests and bkdiff may import it. It
// must not do I/O, reach a store or registry, or hold state between calls
// (a Resolver counts its own calls only).
package plantest
