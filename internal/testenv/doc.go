// Package testenv runs the real dependencies the tests of this project use:
// a kube-apiserver and etcd with the OpenShift CRDs installed (Cluster), and
// a distribution registry served over TLS with htpasswd auth (Registry),
// plus a small builder for real container images (Image).
//
// Nothing here is a fake. When a dependency cannot start, the helpers that
// take a testing.TB fail the test; they never skip it.
//
// A package whose tests use the shared cluster wires it in TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := testenv.SharedCluster(t)
//		name := testenv.UniqueName(t, "idms")
//		...
//	}
//
// A test that needs a cluster of another shape asks for it with options, and
// gets one shared with the tests that ask for the same: SharedCluster(t,
// Before413()) stands for an OpenShift cluster without ImageDigestMirrorSet
// and ImageTagMirrorSet.
package testenv
