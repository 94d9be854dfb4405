package archive

import (
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Bounds of a chunk size given by a user: below a MiB an archive is
// thousands of files; above a PiB the number is a typo.
const (
	MinChunkSize = 1 << 20
	MaxChunkSize = 1 << 50
)

// ParseSize reads a chunk size as --archive-size gives it: a number of GiB
// (as oc-mirror's archiveSize), or a quantity with a unit (500Mi). "" is 0,
// the default. Anything not finite or outside MinChunkSize..MaxChunkSize is
// refused rather than silently meaning the default.
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	var bytes float64
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q: not a number of GiB", s)
		}
		bytes = f * (1 << 30)
	} else {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return 0, fmt.Errorf("%q: want GiB (4) or a size with a unit (500Mi)", s)
		}
		bytes = q.AsApproximateFloat64()
	}
	if bytes < MinChunkSize || bytes > MaxChunkSize {
		return 0, fmt.Errorf("%q: must be between 1Mi and 1Pi", s)
	}
	return int64(bytes), nil
}
