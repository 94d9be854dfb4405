package cli

import (
	"fmt"
	"io"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// PrintDiff writes to w a unified diff, as YAML, of what a change does to
// the object what names: before is the object as it was (nil when the change
// creates it), after as it is, or would be. The fields the server keeps for
// itself (managedFields, resourceVersion, uid, generation,
// creationTimestamp) and status are left out. It reports whether the two
// differ; equal objects print nothing.
func PrintDiff(w io.Writer, what string, before, after *unstructured.Unstructured) (bool, error) {
	a, err := diffText(before)
	if err != nil {
		return false, err
	}
	b, err := diffText(after)
	if err != nil {
		return false, err
	}
	if a == b {
		return false, nil
	}
	from := what + " (in the cluster)"
	if before == nil {
		from = "/dev/null"
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: from, ToFile: what, Context: 3,
	})
	if err != nil {
		return true, err
	}
	_, err = fmt.Fprint(w, text)
	return true, err
}

func diffText(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	c := u.DeepCopy()
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	b, err := yaml.Marshal(c.Object)
	return string(b), err
}
