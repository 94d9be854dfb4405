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
// as kubectl finds it (examples_test.go). In airgap_test.go, the air-gapped
// chain and kill -9: mirror to disk with only the source's credentials, then,
// with the source stopped, disk to mirror into a second registry with its own
// credentials and CA, and the rest of the connected chain against it; and
// both steps killed with SIGKILL at random points (a seeded delay within an
// unkilled run's duration, or a seeded number of bytes written; the seed is
// logged on failure, E2E_KILL_SEED repeats it), each rerun completing into an
// archive that verifies and pushes whole, and a registry that never serves a
// manifest whose blobs are missing.
package e2e
