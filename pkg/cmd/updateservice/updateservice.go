// Package updateservice is the `oc update service` command: it points a
// cluster at a local OpenShift Update Service (apply) and proves the cluster
// is offered an update through it (status).
package updateservice

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/cluster"
)

// Name is the binary's name and the field manager of its changes.
const Name = "oc-update-service"

const rootExample = `  # Point the cluster at the update service oc mirror lite --graph printed, then gate the update
  oc update service apply -f resources.yaml --channel stable-4.16
  oc update service status --expect 4.16.3`

// common is what apply and status share: the streams and the connection.
type common struct {
	genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags

	client *cluster.Client
}

func (c *common) connect() error {
	if c.client != nil {
		return nil
	}
	cl, err := cluster.New(c.ConfigFlags, Name)
	if err != nil {
		return err
	}
	c.client = cl
	return nil
}

// NewCmd builds `oc update service`.
func NewCmd(streams genericiooptions.IOStreams) *cobra.Command {
	c := &common{IOStreams: streams, ConfigFlags: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   Name + " apply|status",
		Short: "Point a cluster at a local update service and prove it offers the update",
		Long: `Point a disconnected cluster at a local OpenShift Update Service and prove the cluster is
offered the update through it.

'apply' applies the UpdateService and the mirror registry's CA ConfigMap that
'oc mirror lite --graph' prints, merging the CA into whatever ConfigMap image.config already
trusts, waits for the operator to publish the policy engine's URI, points ClusterVersion's
upstream at it, and makes the Cluster Version Operator trust the route's CA through the
cluster proxy's trustedCA, again by merging. 'status' checks every condition the update
depends on and, with --expect VERSION, is the gate before 'oc adm upgrade'.

Exit codes: 0 done (or every condition holds); 1 status --expect found a condition unmet;
2 bad usage or input, nothing changed; 3 a cluster or registry operation failed.`,
		Example: rootExample,
		Args:    cobra.NoArgs,
	}
	c.ConfigFlags.AddFlags(cmd.PersistentFlags())
	// Every object has its fixed namespace; -n would only mislead.
	_ = cmd.PersistentFlags().MarkHidden("namespace")
	cmd.AddCommand(newApplyCmd(c), newStatusCmd(c))
	cli.Setup(cmd, "oc update service")
	return cmd
}
