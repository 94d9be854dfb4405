# Sourced by hack/demo.sh: pause the MachineHealthChecks around the update,
# resume them after it, and gate on the result.
# shellcheck shell=bash

say "MachineHealthChecks, step 1. The cluster's health checks, one already paused by hand"
run kubectl apply -f "$root/hack/demo/mhcs.yaml"
run kubectl -n openshift-machine-api annotate machinehealthcheck.machine.openshift.io infra cluster.x-k8s.io/paused=""
run oc-mhc-pause status
if ! kubectl get clusterversion version >/dev/null 2>&1; then
	echo "(the sandbox has no ClusterVersion: give it one of an idle cluster, as the CVO would)"
	run kubectl apply -f "$root/hack/demo/mhc-clusterversion.yaml"
	run kubectl patch clusterversion version --subresource=status --type=merge --patch-file "$root/hack/demo/mhc-clusterversion-status.yaml"
	echo "(no update is in progress, so the hand-made pause was probably forgotten:)"
	run oc-mhc-pause status
fi

say "MachineHealthChecks, step 2. Pause them all before the update (someone else's pause is left as it is)"
echo "(oc finds the plugin as 'oc mhc pause'; here it runs by its file name)"
run oc-mhc-pause --all -o name
run oc-mhc-pause --all -o name # again: nothing changes
run oc-mhc-pause status --expect paused

say "MachineHealthChecks, step 3. After the update: resume exactly the ones oc-mhc-pause paused"
run oc-mhc-resume --all -o name
echo "(the gate fails while the hand-paused one is still paused:)"
if run oc-mhc-pause status --expect resumed; then
	echo "the gate should have failed" >&2
	exit 1
fi
echo "(the hand-made pause is over too: --force resumes an MHC someone else paused)"
run oc-mhc-resume infra --force -o name
run oc-mhc-pause status --expect resumed

say "Every MachineHealthCheck is running again, and the runbook could check it."
