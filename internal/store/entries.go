package store

import (
	"context"
	"fmt"
)

// Entries returns every entry of index.json in file order, named or not
// (Name is "" for entries without a ref.name annotation, as other tools
// write them). Like Resolve it reads index.json without locking.
func (s *Store) Entries(ctx context.Context) ([]Named, error) {
	m, err := s.readIndexJSON()
	if err != nil {
		return nil, fmt.Errorf("listing entries: %w", err)
	}
	out := make([]Named, 0, len(m.Manifests))
	for _, d := range m.Manifests {
		out = append(out, Named{Name: d.Annotations[RefNameAnnotation], Descriptor: d})
	}
	return out, nil
}
