// Package main is the corpusdump command: it makes and prints the dumps of
// package imagedump.
//
//	corpusdump buildkit -base DIR [-addr ADDR] [-work DIR] [CASE...]
//
// regenerates the expected dumps of the Dockerfile corpus
// (testdata/dockerfile-corpus) with BuildKit: for each case it prepares the
// context (imagedump.Case.Prepare), runs buildctl with the case's platforms,
// build arguments, target and secrets, the base image fixtures/busybox:1.35
// given as a named context from the OCI layout DIR, and writes
// expected/PLATFORM.dump atomically. It never builds with manyarch: the
// corpus test (go test ./internal/engine -run TestDockerfileCorpus) compares
// manyarch's builds with these files. hack/corpus-regen.sh starts a
// buildkitd and runs it.
//
//	corpusdump dump [-base REF] [-platform P] REF
//
// prints the dump of an image (any manyarch reference: oci:DIR,
// oci-archive:FILE, a store name), less what it shares with base.
//
// It must not decide what a difference means: comparing and allowing
// differences is the corpus test's job.
package main
