package cli

import (
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
)

// NewPrintFlags returns kubectl's -o flags with YAML, the stream format
// `oc apply -f -` reads, as the default.
func NewPrintFlags() *genericclioptions.PrintFlags {
	return genericclioptions.NewPrintFlags("").WithDefaultOutput("yaml")
}

// Printer writes an object stream to stdout in the format -o chose.
type Printer struct {
	printer printers.ResourcePrinter
	json    bool
}

// NewPrinter builds the printer for the -o flags.
func NewPrinter(f *genericclioptions.PrintFlags) (*Printer, error) {
	p, err := f.ToPrinter()
	if err != nil {
		return nil, BadInput(err)
	}
	return &Printer{printer: p, json: f.OutputFormat != nil && *f.OutputFormat == "json"}, nil
}

// Print writes objs in order: YAML as documents separated by ---, JSON as one
// object or, for several, a v1 List (as kubectl prints them), names one a line.
func (p *Printer) Print(w io.Writer, objs []*unstructured.Unstructured) error {
	if p.json && len(objs) != 1 {
		list := &unstructured.UnstructuredList{Object: map[string]interface{}{
			"apiVersion": "v1", "kind": "List", "metadata": map[string]interface{}{},
		}}
		for _, o := range objs {
			list.Items = append(list.Items, *o)
		}
		return p.printer.PrintObj(list, w)
	}
	for _, o := range objs {
		var obj runtime.Object = o
		if err := p.printer.PrintObj(obj, w); err != nil {
			return err
		}
	}
	return nil
}
