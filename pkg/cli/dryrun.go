package cli

import cmdutil "k8s.io/kubectl/pkg/cmd/util"

// DryRunSuffix is what kubectl adds to the verb it prints for a dry run
// ("configured (server dry run)"), or "".
func DryRunSuffix(s cmdutil.DryRunStrategy) string {
	switch s {
	case cmdutil.DryRunClient:
		return " (dry run)"
	case cmdutil.DryRunServer:
		return " (server dry run)"
	}
	return ""
}
