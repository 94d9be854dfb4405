# Sourced by hack/demo.sh: the ICSP to IDMS migration step.
# shellcheck shell=bash

say "Migration, step 1. The cluster as today's runbook leaves it: ImageContentSourcePolicy objects"
run kubectl apply -f "$root/hack/demo/icsps.yaml"
run kubectl get imagecontentsourcepolicy

say "Migration, step 2. Convert them to ImageDigestMirrorSets and prove the nodes' registries.conf stays the same"
echo "(oc finds the plugin as 'oc icsp migrate'; here it runs by its file name)"
run oc-icsp-migrate --from-cluster --check

say "Migration, step 3. Apply the ImageDigestMirrorSets, then prune the ICSPs they replace"
run oc-icsp-migrate --from-cluster --check --apply --prune -o name
run kubectl get imagedigestmirrorset
run kubectl get imagecontentsourcepolicy

say "The cluster's mirror configuration now lives in ImageDigestMirrorSets, and nodes need no change."
