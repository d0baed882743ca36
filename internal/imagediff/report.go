package imagediff

// SchemaVersion is the version of the JSON form of Report. It changes only
// when a field is removed or changes meaning; new fields may appear.
const SchemaVersion = 1

// Status values of a PlatformReport.
const (
	StatusIdentical = "identical"
	StatusDifferent = "different"
	StatusOnlyInA   = "only-in-a"
	StatusOnlyInB   = "only-in-b"
)

// Status values of a PathDiff.
const (
	PathChanged = "changed"
	PathOnlyInA = "only-in-a"
	PathOnlyInB = "only-in-b"
)

// Report is the result of Compare: why two images or indexes differ. Its
// JSON form is documented in the package comment.
type Report struct {
	SchemaVersion int `json:"schemaVersion"`
	// A and B name the two artifacts compared; Compare fills in digests and
	// media types, the caller may set Reference.
	A Artifact `json:"a"`
	B Artifact `json:"b"`
	// Identical is true when every compared part is the same: the whole
	// artifacts (same digest) or, with WithPlatforms, every chosen platform.
	Identical bool `json:"identical"`
	// Index lists differences of the top level: media types, annotations,
	// manifests that are not runnable images, encoding. Empty with
	// WithPlatforms.
	Index []Difference `json:"index"`
	// Platforms has one entry per platform: A's order, then those only in B.
	Platforms []PlatformReport `json:"platforms"`
}

// Artifact identifies one side of the comparison.
type Artifact struct {
	Reference string `json:"reference,omitempty"`
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// Difference is one field whose values differ. A and B are the values in
// the first and second artifact; nil (JSON null) means the field is absent
// there.
type Difference struct {
	Field string  `json:"field"`
	A     *string `json:"a"`
	B     *string `json:"b"`
}

// PlatformReport compares the images of one platform.
type PlatformReport struct {
	Platform string `json:"platform"`
	// Status is identical, different, only-in-a or only-in-b.
	Status string `json:"status"`
	// A and B are the manifest digests (nil for the side that lacks the
	// platform).
	A *string `json:"a"`
	B *string `json:"b"`
	// Manifest lists differences of the manifest and its index descriptor
	// (media types, annotations, layer blobs holding the same content).
	Manifest []Difference `json:"manifest"`
	// Config lists differences of the image configs, field by field.
	Config []Difference `json:"config"`
	// Layers compares the layers; nil when the platform is identical or in
	// only one artifact.
	Layers *LayerReport `json:"layers"`
}

// LayerReport compares the layers of two images by diff ID and, for the
// first layer that differs, path by path.
type LayerReport struct {
	CountA int `json:"countA"`
	CountB int `json:"countB"`
	// First is the number (counting from 1) of the first layer whose diff
	// IDs differ, or that only one image has; 0 when all layers are equal.
	First int `json:"first"`
	// A and B describe layer First of each image; nil when it has no such
	// layer.
	A *Layer `json:"a"`
	B *Layer `json:"b"`
	// AlsoDiffer lists the numbers of later layers that differ too (not
	// compared path by path).
	AlsoDiffer []int `json:"alsoDiffer"`
	// Paths lists the differing paths of layer First, sorted, at most
	// WithMaxPaths of them; PathsDiffering counts all, PathsOmitted those
	// not listed.
	Paths          []PathDiff `json:"paths"`
	PathsDiffering int        `json:"pathsDiffering"`
	PathsOmitted   int        `json:"pathsOmitted"`
}

// Layer describes one layer.
type Layer struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// PathDiff is one path of a layer that differs.
type PathDiff struct {
	// Path is absolute and clean ("/etc/passwd"), as in the layer tar.
	Path string `json:"path"`
	// Status is changed, only-in-a or only-in-b.
	Status string `json:"status"`
	// Type is the entry type where the path is present (file, directory,
	// symlink, hardlink, char device, block device, fifo, whiteout, opaque
	// whiteout); for a changed path whose type changed, the type in B.
	Type string `json:"type"`
	// Changes lists what differs for a changed path: type, mode, owner,
	// size, content, link, device, mtime, xattrs[NAME].
	Changes []Difference `json:"changes,omitempty"`
}

// Different reports whether the platform's images differ or only one
// artifact has the platform.
func (p *PlatformReport) Different() bool { return p.Status != StatusIdentical }

func str(s string) *string { return &s }
