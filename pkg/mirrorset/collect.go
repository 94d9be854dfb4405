package mirrorset

import (
	"errors"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1alpha1 "github.com/openshift/api/operator/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/airgap-ocp/oc-plugins/pkg/manifest"
)

// ClusterVersionKind is the kind whose status.desired.image names the cluster's release
// payload, which the MCO's blocked-registries rule protects.
var ClusterVersionKind = configv1.GroupVersion.WithKind("ClusterVersion")

// The names of the singletons the Machine Config Operator reads.
const (
	ImageConfigName    = "cluster"
	ClusterVersionName = "version"
)

// Collection is the mirror configuration an object stream describes.
type Collection struct {
	// Config holds every ICSP, IDMS and ITMS of the stream, and its Image named cluster.
	Config Config
	// ICSPAt is parallel to the collected objects: the decoded ImageContentSourcePolicy where
	// the object is one, nil elsewhere.
	ICSPAt []*operatorv1alpha1.ImageContentSourcePolicy
	// ReleaseImage is status.desired.image of the ClusterVersion named version, when the stream
	// holds one.
	ReleaseImage string
	// Conflicts lists sources given two mirrorSourcePolicy values: the MCO refuses to render
	// such a configuration, and only logs it.
	Conflicts field.ErrorList
}

// Collect finds the mirror objects in a stream, decodes and validates them, and returns the
// configuration they describe. Objects of other kinds, and Image objects not named cluster,
// are ignored. A malformed or invalid mirror object is a *manifest.Error naming the object's
// source and the first offending field; one the API server accepts but the Machine Config
// Operator refuses (an ICSP source or mirror outside the MCO's patterns) is that error
// wrapped in a *RefusedError. Conflicts between objects are not an error but are returned in
// Conflicts, for the caller to judge.
func Collect(objs []manifest.Object) (*Collection, error) {
	c := &Collection{ICSPAt: make([]*operatorv1alpha1.ImageContentSourcePolicy, len(objs))}
	for i, obj := range objs {
		switch u := obj.Unstructured; {
		case Is(u, ICSPKind):
			icsp, err := DecodeICSP(u)
			if err == nil {
				err = validateICSPObject(icsp).ToAggregate()
			}
			if err != nil {
				return nil, SourceError(obj.Source, err)
			}
			if errs := mcoRefusesICSP(icsp); len(errs) > 0 {
				return nil, &RefusedError{Err: SourceError(obj.Source, errs.ToAggregate())}
			}
			c.ICSPAt[i] = icsp
			c.Config.ICSPs = append(c.Config.ICSPs, icsp)
		case Is(u, IDMSKind):
			idms, err := DecodeIDMS(u)
			if err == nil {
				err = ValidateIDMS(idms).ToAggregate()
			}
			if err != nil {
				return nil, SourceError(obj.Source, err)
			}
			c.Config.IDMSs = append(c.Config.IDMSs, idms)
		case Is(u, ITMSKind):
			itms, err := DecodeITMS(u)
			if err == nil {
				err = ValidateITMS(itms).ToAggregate()
			}
			if err != nil {
				return nil, SourceError(obj.Source, err)
			}
			c.Config.ITMSs = append(c.Config.ITMSs, itms)
		case Is(u, ImageKind):
			if obj.GetName() != ImageConfigName {
				continue
			}
			img, err := DecodeImage(u)
			if err != nil {
				return nil, SourceError(obj.Source, err)
			}
			c.Config.Image = img
		case Is(u, ClusterVersionKind):
			if obj.GetName() != ClusterVersionName {
				continue
			}
			image, _, err := unstructured.NestedString(u.Object, "status", "desired", "image")
			if err != nil {
				return nil, &manifest.Error{Source: obj.Source, Field: "status.desired.image", Err: err}
			}
			c.ReleaseImage = image
		}
	}
	c.Conflicts = Conflicts(c.Config.ICSPs, c.Config.IDMSs, c.Config.ITMSs)
	return c, nil
}

// RefusedError is a mirror object the API server accepts and the Machine Config Operator
// refuses: the MCO then renders no registries.conf, and only logs why. Err is the
// *manifest.Error that names the object and the field.
type RefusedError struct {
	Err error
}

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// SourceError turns a decoding or validation error into one naming the object's source (file,
// document) and the first offending field.
func SourceError(src manifest.Source, err error) error {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) && len(agg.Errors()) > 0 {
		err = agg.Errors()[0]
	}
	var fe *field.Error
	if errors.As(err, &fe) {
		return &manifest.Error{Source: src, Field: fe.Field, Err: errors.New(fe.ErrorBody())}
	}
	return &manifest.Error{Source: src, Err: err}
}
