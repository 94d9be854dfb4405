# Sourced by hack/demo.sh: 3. the migration of a cluster set up before 4.13,
# whose mirrors are ImageContentSourcePolicy objects.
# shellcheck shell=bash

say "Migration 1/2. An older cluster's mirror configuration: ImageContentSourcePolicy objects"
replaces "nothing yet: this is what the runbooks before 4.13 left (ICSPs written by hand and oc create'd)"
run 'kubectl apply -f $demo/icsps.yaml'
run 'oc-registries-verify render > before.conf'

say "Migration 2/2. Convert them to ImageDigestMirrorSets, prove registries.conf stays the same, apply, prune the ICSPs"
replaces "oc adm migrate icsp, oc create -f the IDMS files, compare registries.conf by eye, oc delete icsp"
run 'oc-icsp-migrate --from-cluster --check --apply --prune -o name'
run 'kubectl get imagecontentsourcepolicy,imagedigestmirrorset'
note "what every node must have is byte for byte what it was"
run 'oc-registries-verify render | diff before.conf - && echo "registries.conf unchanged"'
