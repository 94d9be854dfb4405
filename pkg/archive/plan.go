package archive

import (
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

// Plan is what the archive pushes at disk to mirror: every image of the
// index, in order, each read from the archive by its digest, with the
// releases and their archived signatures.
func (idx *Index) Plan() (*plan.Plan, error) {
	p := &plan.Plan{Name: idx.Name, Releases: append([]plan.Release(nil), idx.Releases...)}
	for _, im := range idx.Images {
		if im.Origin == "" {
			im.Origin = "the archive's index"
		}
		if err := p.Add(im); err != nil {
			return nil, &FieldError{File: IndexFile, Field: "images", Err: err}
		}
	}
	return p, nil
}
