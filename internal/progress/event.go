package progress

import (
	"encoding/json"
	"time"
)

// Kind says what an event is about.
type Kind string

// Kinds of items that report progress.
const (
	KindBlob     Kind = "blob"     // a layer or config blob moving to or from a registry or store
	KindManifest Kind = "manifest" // an image manifest or index
	KindStep     Kind = "step"     // a build step or test on one platform
	KindMessage  Kind = "message"  // a free-standing note (Message holds the text)
)

// Status is where an item is in its life.
type Status string

// Statuses, in the order an item usually goes through them. Done, Exists,
// Mounted, Cached and Failed are final: no event with the same ID follows.
const (
	StatusWaiting  Status = "waiting"  // queued behind other work
	StatusRunning  Status = "running"  // transferring or executing; Current/Total say how far
	StatusRetrying Status = "retrying" // a transient error; Err says which; it starts again
	StatusDone     Status = "done"     // finished: transferred or executed
	StatusExists   Status = "exists"   // nothing to do: the destination already had it
	StatusMounted  Status = "mounted"  // copied inside the registry from another repository
	StatusCached   Status = "cached"   // a build step answered from the cache
	StatusFailed   Status = "failed"   // gave up; Err says why
)

// Final reports whether no further event follows s for the same item.
func (s Status) Final() bool {
	switch s {
	case StatusDone, StatusExists, StatusMounted, StatusCached, StatusFailed:
		return true
	}
	return false
}

// Event is one report about one item. Only ID, Kind and Status are always set.
type Event struct {
	Time     time.Time // when it happened; Send fills in the zero value
	ID       string    // stable identity of the item (a digest, a step number)
	Kind     Kind      // what sort of item
	Status   Status    // where it is
	Name     string    // short text for people: "layer 3/7", "RUN make"
	Platform string    // "linux/arm64" when the item belongs to one platform
	// Target is, for a step of a stage that runs on another platform than
	// the image it is built for (FROM --platform=$BUILDPLATFORM,
	// cross-compiling), the target platform: printers label the step
	// "linux/amd64->arm64", as buildx does.
	Target   string
	Emulated bool          // a step ran under an emulator rather than natively
	Current  int64         // bytes (or units) done so far
	Total    int64         // bytes (or units) in all; 0 when unknown
	Duration time.Duration // on final events: how long the item took
	Message  string        // extra text (KindMessage: the whole text)
	Err      error         // on StatusRetrying and StatusFailed
}

// Func receives events. Implementations must be safe for concurrent use;
// a nil Func is valid and means "nobody is listening" (see Send).
type Func func(Event)

// Send calls f with e, filling in e.Time, and does nothing when f is nil.
func (f Func) Send(e Event) {
	if f == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	f(e)
}

// jsonEvent is the stable wire form of an Event.
type jsonEvent struct {
	Time       string `json:"time"`
	ID         string `json:"id"`
	Kind       Kind   `json:"kind"`
	Status     Status `json:"status"`
	Name       string `json:"name,omitempty"`
	Platform   string `json:"platform,omitempty"`
	Target     string `json:"target,omitempty"`
	Emulated   bool   `json:"emulated,omitempty"`
	Current    int64  `json:"current,omitempty"`
	Total      int64  `json:"total,omitempty"`
	DurationMS int64  `json:"durationMs,omitempty"`
	Message    string `json:"message,omitempty"`
	Error      string `json:"error,omitempty"`
}

// MarshalJSON writes the stable form used by the json renderer:
//
//	{"time":"2006-01-02T15:04:05.000Z07:00","id":"…","kind":"blob|manifest|step|message",
//	 "status":"waiting|running|retrying|done|exists|mounted|cached|failed",
//	 "name":"…","platform":"linux/arm64","target":"linux/arm/v7","emulated":true,"current":N,"total":N,
//	 "durationMs":N,"message":"…","error":"…"}
//
// Fields other than time, id, kind and status are left out when empty.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{
		Time:       e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ID:         e.ID,
		Kind:       e.Kind,
		Status:     e.Status,
		Name:       e.Name,
		Platform:   e.Platform,
		Target:     e.Target,
		Emulated:   e.Emulated,
		Current:    e.Current,
		Total:      e.Total,
		DurationMS: e.Duration.Milliseconds(),
		Message:    e.Message,
	}
	if e.Err != nil {
		j.Error = e.Err.Error()
	}
	return json.Marshal(j)
}
