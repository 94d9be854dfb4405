package mirrorlite

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/catalog"
	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

const catalogExample = `  # Two operators from Red Hat's index: the head of each default channel, and of stable
  oc mirror lite catalog registry.redhat.io/redhat/redhat-operator-index:v4.17 \
    --package cincinnati-operator --package local-storage-operator:stable \
    --to docker://registry.example.com:5000/mirror | oc apply -f -

  # See which bundles would be kept, and the mapping, without copying
  oc mirror lite catalog registry.redhat.io/redhat/redhat-operator-index:v4.17 \
    --package cincinnati-operator --include-dependencies --to docker://registry.example.com:5000/mirror --dry-run

  # Across an air gap, then push it as for a release
  oc mirror lite catalog registry.redhat.io/redhat/redhat-operator-index:v4.17 \
    --package cincinnati-operator --to file:///media/usb/operators
  oc mirror lite --from file:///media/usb/operators --to docker://registry.example.com:5000/mirror | oc apply -f -`

// CatalogOptions are `oc mirror lite catalog`.
type CatalogOptions struct {
	*Options
	Catalog       string
	Packages      []string
	Full          bool
	TargetCatalog string
	TargetTag     string
}

// NewCatalogOptions returns CatalogOptions with the defaults.
func NewCatalogOptions(streams genericiooptions.IOStreams) *CatalogOptions {
	return &CatalogOptions{Options: NewOptions(streams)}
}

func newCatalogCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCatalogOptions(streams)
	cmd := &cobra.Command{
		Use:   "catalog CATALOG --to docker://REGISTRY/REPO [--package NAME[:CHANNEL,...]]...",
		Short: "Mirror an operator catalog, filtered to the packages named, and print its CatalogSource",
		Long: `Mirror a file-based operator catalog (OpenShift 4.11 and later): the bundles kept and every
image they name, by digest, then the catalog itself, rebuilt to list exactly what was
mirrored. CATALOG is a pull spec (docker:// optional) or oci://DIR.

Without --package the head of each package's default channel is kept (with --full,
everything, and the catalog is mirrored unchanged). --package NAME keeps the head of
its default channel, NAME:CH1,CH2 the head of each named channel; --full with it keeps
every bundle of those. For version ranges, named bundles and several catalogs, use -c
with mirror.operators (oc-mirror v2's ImageSetConfiguration).

The kept catalog is made one OLM accepts: bundles that join a channel's upgrade graph
and the head of a default channel are kept too, and said on stderr; dependencies no
kept bundle satisfies are listed (--include-dependencies adds them). A bundle whose
images could not be copied is left out of the catalog. The rebuilt catalog drops the
original's pre-built cache: opm builds it from the filtered catalog when the catalog
pod starts. On stdout: the ImageDigestMirrorSet for the operator images, and a
CatalogSource and ClusterCatalog naming the catalog by digest.`,
		Example: catalogExample,
		Args:    cobra.ExactArgs(1),
		RunE:    run(o),
	}
	fs := cmd.Flags()
	o.addFlags(cmd)
	o.Options.Catalog.addFlags(fs)
	o.addCacheFlag(fs)
	fs.StringArrayVar(&o.Packages, "package", nil, "Package to keep, NAME or NAME:CHANNEL[,CHANNEL...] (repeatable)")
	fs.BoolVar(&o.Full, "full", false, "Keep every bundle: of the whole catalog, or of the packages and channels named")
	fs.StringVar(&o.TargetCatalog, "target-catalog", "", "Repository path of the catalog below --to (default: the source's path)")
	fs.StringVar(&o.TargetTag, "target-tag", "", "Tag of the catalog (default: the source's tag)")
	fs.StringVar(&o.To, "to", "", "Destination: docker://REGISTRY/REPO, or file://DIR to mirror to disk (required)")
	return cmd
}

// Complete takes the catalog argument.
func (o *CatalogOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Catalog = args[0]
	}
	return o.complete(cmd)
}

var packageFlag = regexp.MustCompile(`^([a-z0-9][a-z0-9.-]*)(?::([^:]+))?$`)

// Validate reads the flags into one catalog to mirror, before any I/O.
func (o *CatalogOptions) Validate() error {
	if o.To == "" {
		return cli.BadInputf("--to is required: docker://REGISTRY/REPO, or file://DIR to mirror to disk")
	}
	if o.diskDir() == "" {
		if _, err := registryRoot(o.To); err != nil {
			return cli.BadInputf("--to: %w", err)
		}
	}
	if _, err := catalog.SourceReference(o.Catalog); err != nil {
		return cli.BadInput(err)
	}
	j := &catalogJob{Name: o.Catalog, Path: o.TargetCatalog, Tag: o.TargetTag, Sel: catalog.Selection{Full: o.Full}}
	for _, p := range o.Packages {
		m := packageFlag.FindStringSubmatch(p)
		if m == nil {
			return cli.BadInputf("--package %q: want NAME or NAME:CHANNEL[,CHANNEL...]", p)
		}
		pkg := catalog.Package{Name: m[1]}
		if m[2] != "" {
			for _, ch := range strings.Split(m[2], ",") {
				pkg.Channels = append(pkg.Channels, catalog.Channel{Name: ch})
			}
		}
		j.Sel.Packages = append(j.Sel.Packages, pkg)
	}
	j.where = func(fe *catalog.FieldError) string {
		if i, ok := packageIndex(fe.Field); ok {
			return fmt.Sprintf("--package %s: %s", o.Packages[i], fe.Msg)
		}
		return fe.Error()
	}
	if err := j.Sel.Validate(); err != nil {
		return cli.BadInputf("%s", j.where(err.(*catalog.FieldError)))
	}
	o.catalogs = []*catalogJob{j}
	return o.validate()
}

// packageIndex is N of a field path packages[N]...
func packageIndex(field string) (int, bool) {
	rest, ok := strings.CutPrefix(field, "packages[")
	if !ok {
		return 0, false
	}
	n, _, _ := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	return i, err == nil
}

// Run mirrors the catalog.
func (o *CatalogOptions) Run(ctx context.Context) error {
	root := ""
	if o.diskDir() == "" {
		root, _ = registryRoot(o.To)
	}
	o.connectDest(ctx, false)
	return o.execute(ctx, &plan.Plan{}, mirror.Registries{}, root)
}
