package buildkit

import (
	"fmt"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Assign gives each of want to a node: the first whose Native platforms
// include it, else the first whose workers list it (the node emulates it).
// It returns, per node (in nodes' order), the platforms it builds, in want's
// order; a platform no node lists is a *PlatformError naming every node's
// platforms.
func Assign(builder string, nodes []Status, want []specs.Platform) ([][]specs.Platform, error) {
	out := make([][]specs.Platform, len(nodes))
	for _, p := range want {
		i := -1
		for j, n := range nodes {
			if containsPlatform(n.Native, p) {
				i = j
				break
			}
		}
		if i < 0 {
			for j, n := range nodes {
				if containsPlatform(n.Platforms, p) {
					i = j
					break
				}
			}
		}
		if i < 0 {
			e := &PlatformError{Platform: platform.Format(p), Builder: builder}
			for _, n := range nodes {
				e.Nodes = append(e.Nodes, fmt.Sprintf("%s (%s): %s", n.Node.Name, n.Node.Addr, formatList(n.Platforms)))
			}
			return nil, e
		}
		out[i] = append(out[i], p)
	}
	return out, nil
}
