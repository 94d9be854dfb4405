package cli

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// completeFlagValues lets the shell complete the values of kubectl's
// connection flags (contexts, clusters and users from the kubeconfig,
// namespaces from the cluster) and of -o, on cmd and every subcommand that
// has them, as kubectl completes its own.
func completeFlagValues(cmd *cobra.Command) {
	funcs := map[string]cobra.CompletionFunc{
		"context": kubeconfigNames(func(c *clientcmdapi.Config) []string { return keys(c.Contexts) }),
		"cluster": kubeconfigNames(func(c *clientcmdapi.Config) []string { return keys(c.Clusters) }),
		"user":    kubeconfigNames(func(c *clientcmdapi.Config) []string { return keys(c.AuthInfos) }),
		"namespace": func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return listNames(c, schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
		},
		"output": func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			var out []string
			for _, f := range NewPrintFlags().AllowedFormats() {
				if strings.HasPrefix(f, toComplete) {
					out = append(out, f)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalNonPersistentFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if fn, ok := funcs[f.Name]; ok {
					if _, has := c.GetFlagCompletionFunc(f.Name); !has {
						_ = c.RegisterFlagCompletionFunc(f.Name, fn)
					}
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}

// CompleteNames is a ValidArgsFunction completing the names of the
// namespaced resource gvr in the namespace and cluster the command's flags
// select, leaving out names already given.
func CompleteNames(gvr schema.GroupVersionResource) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return listNames(c, gvr, true, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// kubeconfigNames completes a flag with names from the kubeconfig the
// command line selects.
func kubeconfigNames(names func(*clientcmdapi.Config) []string) cobra.CompletionFunc {
	return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := kubeFlags(c).ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names(&cfg), toComplete, nil), cobra.ShellCompDirectiveNoFileComp
	}
}

// listNames lists the names of gvr's objects (in the selected namespace when
// namespaced) that start with prefix and are not in skip; nothing when the
// cluster cannot be read, as a shell completion must not fail loudly.
func listNames(c *cobra.Command, gvr schema.GroupVersionResource, namespaced bool, prefix string, skip []string) []string {
	kube := kubeFlags(c)
	cfg, err := kube.ToRESTConfig()
	if err != nil {
		return nil
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	var ri dynamic.ResourceInterface = client.Resource(gvr)
	if namespaced {
		ns, _, err := kube.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil
		}
		ri = client.Resource(gvr).Namespace(ns)
	}
	list, err := ri.List(c.Context(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var names []string
	for _, o := range list.Items {
		names = append(names, o.GetName())
	}
	return withPrefix(names, prefix, skip)
}

func withPrefix(names []string, prefix string, skip []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !containsString(skip, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// kubeFlags rebuilds kubectl's connection flags from those given on the
// command line being completed (--kubeconfig, --context, -n, ...).
func kubeFlags(c *cobra.Command) *genericclioptions.ConfigFlags {
	kube := genericclioptions.NewConfigFlags(false)
	fs := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	kube.AddFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if given := c.Flag(f.Name); given != nil && given.Changed {
			_ = fs.Set(f.Name, given.Value.String())
		}
	})
	return kube
}
