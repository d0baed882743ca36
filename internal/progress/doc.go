// Package progress carries what long operations are doing to whoever shows it.
//
// A library reports progress by calling a Func with Events; it never prints.
// The CLI turns the stream into text with a Printer: "plain" writes one line
// per notable event, "tty" redraws one line per active item on a terminal,
// "json" writes one JSON object per event (stable field names, documented on
// Event.MarshalJSON), "quiet" writes nothing, and "auto" picks tty when the
// output is a terminal and plain otherwise.
//
// One Event type serves registry transfers (a blob or manifest, bytes moved)
// and build steps (a step on a platform, run natively or under emulation, how
// long it took). Events with the same ID describe the same item over time.
package progress
