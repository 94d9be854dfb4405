//go:build tools

// Package deps pins, for `go mod tidy`, modules the project is about to use.
// It is removed once real code imports them.
package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/containers/image/v5/copy"
	_ "github.com/containers/image/v5/docker"
	_ "github.com/containers/image/v5/oci/layout"
	_ "github.com/containers/image/v5/pkg/sysregistriesv2"
	_ "github.com/containers/image/v5/signature"
	_ "github.com/containers/image/v5/transports/alltransports"
	_ "github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	_ "github.com/openshift/api/config/v1"
	_ "github.com/openshift/api/machine/v1beta1"
	_ "github.com/openshift/api/machineconfiguration/v1"
	_ "github.com/openshift/api/operator/v1alpha1"
	_ "github.com/openshift/client-go/config/applyconfigurations/config/v1"
	_ "github.com/openshift/client-go/config/clientset/versioned"
	_ "github.com/openshift/client-go/machine/clientset/versioned"
	_ "github.com/openshift/client-go/machineconfiguration/clientset/versioned"
	_ "github.com/openshift/client-go/operator/clientset/versioned"
	_ "github.com/openshift/runtime-utils/pkg/registries"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/term"
	_ "k8s.io/cli-runtime/pkg/genericclioptions"
	_ "k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/cli-runtime/pkg/printers"
	_ "k8s.io/cli-runtime/pkg/resource"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/kubectl/pkg/cmd/util"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/yaml"
)
