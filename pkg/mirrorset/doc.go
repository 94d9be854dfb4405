// Package mirrorset models the objects that tell OpenShift nodes where to pull images from:
// ImageContentSourcePolicy (operator.openshift.io/v1alpha1), ImageDigestMirrorSet and
// ImageTagMirrorSet (config.openshift.io/v1), and the registry sources of the cluster Image
// config (config.openshift.io/v1 Image).
//
// It decodes them strictly, validates them with the rules of their CRDs and of the Machine
// Config Operator (MCO), converts ICSPs to IDMSs, merges IDMSs, and renders the
// /etc/containers/registries.conf the MCO writes to every node, by calling the same function
// the MCO calls (github.com/openshift/runtime-utils/pkg/registries.EditRegistriesConfig).
//
// The package is pure: values in, values out. It talks to no cluster or registry, knows no
// flags and reads no file of the caller's. One exception is internal: containers/image parses a
// registries.conf only from a path, so ParseRegistriesConf writes the bytes it is given to a private
// temporary file, parses it and removes it, to compare files with the rules CRI-O applies.
package mirrorset
