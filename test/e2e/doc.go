// Package e2e runs the built plugins the way runbooks and pipelines do: as
// oc-* and kubectl-* files on the PATH, in bash pipelines, with kubectl
// against a real kube-apiserver (internal/testenv) and real TLS registries
// with authentication, reading the results back with skopeo.
//
// The binaries are those `make test` built into $OC_PLUGINS_BIN, or else
// built from ./cmd now. The tests share one API server (testenv.SharedCluster)
// and do not run in parallel: the chains change cluster-wide objects
// (MachineHealthChecks, pools, mirror sets), as the runbook does.
//
// What is here: the connected chain (chain_test.go), the ICSP migration chain
// (migrate_test.go), kubectl's plugin lookup (plugins_test.go), the bad-input
// corpus (badinput_test.go), secrets and TLS (secrets_test.go), faults
// between oc-mirror-lite and its registries (faults_test.go), RBAC denial
// by a restricted user (restricted_test.go) and every help example parsed
// as kubectl finds it (examples_test.go). The air-gapped
// chain (mirror to disk, disk to mirror into a second registry) and the kill -9
// tests of those two steps belong in airgap_test.go, reusing env, sh and
// mirrorEnv from this package.
package e2e
