// Package dist tests the release packaging: `make dist` (hack/dist.sh) must
// produce reproducible archives and krew manifests that krew accepts.
//
// krew's own validation (sigs.k8s.io/krew/internal/index/validation) is an
// internal package, and requiring sigs.k8s.io/krew would raise k8s.io/client-go
// to v11.0.0+incompatible, so the tests carry the same rules, written from
// krew v0.4.4's validation package, its validate-krew-manifest command and
// its archive extractor.
package dist
