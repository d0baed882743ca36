// Command plot draws bench/scale.json (written by bench/scale.sh) as one
// self-contained SVG: a panel per axis of the scale bench (platforms of a
// build, files in a build context, size of a pushed and pulled image), time
// against size, one line per tool and cache mode or operation, so a reader
// sees where each path's cost bends.
//
//	go run ./bench/plot                          bench/scale.json → docs/bench-scale.svg
//	go run ./bench/plot -in FILE -out FILE.svg
//
// An axis whose sizes span an order of magnitude or more is drawn on a log
// scale, and so is the time axis when its values do. The caption names the
// commit, the date, the machine, the runs per point and the note that
// bench/scale.sh recorded. It uses only the standard library, and the same
// input always gives the same bytes. A malformed input is an error naming the
// file, line and field; nothing is written then. A row without a time (a
// tool that failed) leaves its point out of the line.
package main
