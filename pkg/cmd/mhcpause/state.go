package mhcpause

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotations on a MachineHealthCheck.
const (
	// PausedAnnotation pauses a MachineHealthCheck: the Machine API's and the
	// Cluster API's controllers skip one that has it, whatever its value.
	PausedAnnotation = "cluster.x-k8s.io/paused"
	// PausedAtAnnotation is our marker: this tool paused the MHC, at the
	// time (RFC 3339, UTC) it holds. Only MHCs with it are resumed.
	PausedAtAnnotation = "airgap-ocp.github.io/mhc-paused-at"
	// PausedByAnnotation records the user this tool paused the MHC for,
	// when the cluster said who that is.
	PausedByAnnotation = "airgap-ocp.github.io/mhc-paused-by"
)

// State is what an MHC's annotations and managed fields say about its pause.
type State struct {
	Paused bool
	// Ours: our marker is present (we paused it, or paused it once and
	// someone removed the pause annotation since).
	Ours bool
	// By is who paused it: Name for our pauses, otherwise the field manager
	// that set the pause annotation (kubectl-annotate, for instance), or "".
	By string
	// User is the user our marker records, if any.
	User string
	// Since is when it was paused, if known: our marker's time, or when the
	// field manager last wrote the annotation.
	Since string
}

// StateOf reads the pause state of an MHC.
func StateOf(u *unstructured.Unstructured) State {
	ann := u.GetAnnotations()
	_, paused := ann[PausedAnnotation]
	at, ours := ann[PausedAtAnnotation]
	s := State{Paused: paused, Ours: ours}
	if ours {
		s.By, s.User, s.Since = Name, ann[PausedByAnnotation], at
		return s
	}
	if paused {
		s.By, s.Since = pauseWriter(u.GetManagedFields())
	}
	return s
}

// pauseWriter finds the field manager that owns the pause annotation, and
// when it last wrote it.
func pauseWriter(fields []metav1.ManagedFieldsEntry) (manager, since string) {
	for _, f := range fields {
		if f.FieldsV1 == nil {
			continue
		}
		var set struct {
			Metadata struct {
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if json.Unmarshal(f.FieldsV1.Raw, &set) != nil {
			continue
		}
		if _, ok := set.Metadata.Annotations["f:"+PausedAnnotation]; !ok {
			continue
		}
		manager = f.Manager
		if f.Time != nil {
			since = f.Time.UTC().Format(time.RFC3339)
		}
	}
	return manager, since
}

// Action is what pause or resume does to one MHC.
type Action int

const (
	// Leave: nothing to change.
	Leave Action = iota
	// Pause: set the pause annotation and our marker.
	Pause
	// Resume: remove the pause annotation and our marker.
	Resume
	// Clean: remove a marker left on an MHC someone else resumed.
	Clean
)

// PausePlan decides what pausing does: an MHC that is not paused is paused
// and marked as ours; one paused already, by us or by someone else, is left
// exactly as it is (someone else's pause is not adopted, so resuming will
// not undo it).
func PausePlan(s State) Action {
	if s.Paused {
		return Leave
	}
	return Pause
}

// ResumePlan decides what resuming does: only MHCs with our marker are
// resumed, or any paused MHC with force; a marker without the pause
// annotation is cleaned away; an MHC that is not paused is left alone.
func ResumePlan(s State, force bool) Action {
	switch {
	case s.Paused && (s.Ours || force):
		return Resume
	case !s.Paused && s.Ours:
		return Clean
	}
	return Leave
}

// Patch returns the JSON merge patch for an action: at and user fill our
// marker when pausing (user may be empty).
func Patch(a Action, at time.Time, user string) map[string]interface{} {
	ann := map[string]interface{}{}
	switch a {
	case Leave:
		return nil
	case Pause:
		ann[PausedAnnotation] = ""
		ann[PausedAtAnnotation] = at.UTC().Format(time.RFC3339)
		ann[PausedByAnnotation] = nil
		if user != "" {
			ann[PausedByAnnotation] = user
		}
	case Resume, Clean:
		ann[PausedAnnotation] = nil
		ann[PausedAtAnnotation] = nil
		ann[PausedByAnnotation] = nil
	}
	if a == Clean {
		delete(ann, PausedAnnotation)
	}
	return map[string]interface{}{"metadata": map[string]interface{}{"annotations": ann}}
}

// applyPatch applies a patch made by Patch to a copy of u, as the server
// would: what a client dry run shows.
func applyPatch(u *unstructured.Unstructured, patch map[string]interface{}) *unstructured.Unstructured {
	out := u.DeepCopy()
	md, _ := patch["metadata"].(map[string]interface{})
	changes, _ := md["annotations"].(map[string]interface{})
	ann := out.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range changes {
		if s, ok := v.(string); ok {
			ann[k] = s
		} else {
			delete(ann, k)
		}
	}
	if len(ann) == 0 {
		ann = nil
	}
	out.SetAnnotations(ann)
	return out
}
