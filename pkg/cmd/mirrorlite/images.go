package mirrorlite

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/airgap-ocp/oc-plugins/pkg/cli"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
)

const imagesExample = `  # Mirror images by tag or digest; prints the IDMS/ITMS for them
  oc mirror lite images registry.redhat.io/ubi9/ubi:latest=registry.example.com:5000/ubi9/ubi:latest

  # From an 'oc image mirror' mapping file, one platform of each multi-arch image
  oc mirror lite images -f mapping.txt --filter-by-os linux/amd64`

// ImagesOptions are `oc mirror lite images`.
type ImagesOptions struct {
	*Options
	Mappings     []string
	MappingFiles []string
	FilterByOS   string

	maps     []plan.Mapping
	platform *plan.Platform
}

// NewImagesOptions returns ImagesOptions with the defaults.
func NewImagesOptions(streams genericiooptions.IOStreams) *ImagesOptions {
	return &ImagesOptions{Options: NewOptions(streams)}
}

func newImagesCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewImagesOptions(streams)
	cmd := &cobra.Command{
		Use:   "images [SRC=DST...] [-f MAPPING]",
		Short: "Mirror images given as SRC=DST pairs or in an 'oc image mirror' mapping file",
		Long: `Mirror images, by tag or digest. Each mapping is SRC=DST (or "SRC DST" in a file,
one a line, # for comments). A destination without a tag gets the source's tag; a
source by digest is pushed by digest. Images by digest are covered by the printed
ImageDigestMirrorSet, images by tag by the ImageTagMirrorSet. An image asked for
twice is copied once (said on stderr); two sources for one destination tag are
refused.`,
		Example: imagesExample,
		RunE:    run(o),
	}
	fs := cmd.Flags()
	o.addFlags(cmd)
	o.addCacheFlag(fs)
	fs.StringArrayVarP(&o.MappingFiles, "filename", "f", nil, "Mapping file: SRC DST or SRC=DST per line (repeatable; - for stdin)")
	fs.StringVar(&o.FilterByOS, "filter-by-os", "", "Copy only this platform (os/arch[/variant], e.g. linux/amd64) of multi-arch images")
	fs.StringVar(&o.To, "to", "", "Mirror to disk, file://DIR: each DST's repository path and tag are kept, its registry is the one given to --from later")
	return cmd
}

// Complete takes the mapping arguments.
func (o *ImagesOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Mappings = append(o.Mappings, args...)
	return o.complete(cmd)
}

// Validate parses every mapping, argument or file, before any I/O.
func (o *ImagesOptions) Validate() error {
	toDisk := o.diskDir() != ""
	switch {
	case len(o.Mappings) == 0 && len(o.MappingFiles) == 0:
		return cli.BadInputf("no images: give SRC=DST arguments or -f MAPPING")
	case o.To != "" && !toDisk:
		return cli.BadInputf("--to: images takes file://DIR only (to mirror to disk); for registries give SRC=DST")
	case o.FilterByOS != "" && toDisk:
		return cli.BadInputf("--filter-by-os applies to registry to registry mirrors only")
	}
	if o.FilterByOS != "" {
		p, err := plan.ParsePlatform(o.FilterByOS)
		if err != nil {
			return cli.BadInputf("--filter-by-os: %w", err)
		}
		o.platform = p
	}
	if err := o.validate(); err != nil {
		return err
	}
	var err error
	o.maps, err = o.readMappings(o.Mappings, o.MappingFiles)
	return err
}

// Run plans the mappings and mirrors them.
func (o *ImagesOptions) Run(ctx context.Context) error {
	p, err := plan.FromMappings(o.maps, o.diskDir() == "", o.platform)
	if err != nil {
		return cli.BadInput(err)
	}
	return o.execute(ctx, p, mirror.Registries{}, "")
}

// readMappings parses mapping arguments, then mapping files (- for stdin),
// in that order.
func (o *Options) readMappings(args, files []string) ([]plan.Mapping, error) {
	var maps []plan.Mapping
	for _, a := range args {
		m, err := plan.ParseMapping(a)
		if err != nil {
			return nil, cli.BadInputf("argument %w", err)
		}
		maps = append(maps, m)
	}
	for _, f := range files {
		ms, err := o.readMappingFile(f)
		if err != nil {
			return nil, err
		}
		maps = append(maps, ms...)
	}
	return maps, nil
}

func (o *Options) readMappingFile(f string) ([]plan.Mapping, error) {
	var r io.Reader
	name := f
	if f == "-" {
		r, name = o.In, "<stdin>"
	} else {
		file, err := os.Open(f)
		if err != nil {
			return nil, cli.BadInputf("-f: %w", err)
		}
		defer file.Close()
		r = file
	}
	ms, err := plan.ReadMappings(r, name)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	if len(ms) == 0 {
		// The rule for object streams (cli.InputOptions): a named input that holds nothing is bad input.
		return nil, cli.BadInputf("%s: no mappings (the file is empty, or only comments; want SRC=DST or SRC DST per line)", name)
	}
	return ms, nil
}
