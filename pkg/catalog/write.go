package catalog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/operator-framework/operator-registry/alpha/declcfg"
)

// Write writes what k keeps of the catalog at root into dir, one
// catalog.json per package, every kept document as the catalog holds it
// except where filtering changes it (a channel's entries, a default
// channel, deprecation entries of what is gone); then it validates the
// result as opm does. Documents are streamed: memory follows the largest
// document, not the catalog.
func Write(ctx context.Context, root fs.FS, k *Kept, dir string) error {
	files := map[string]*os.File{}
	bufs := map[string]*bufio.Writer{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out := func(name string) (*bufio.Writer, error) {
		if w := bufs[name]; w != nil {
			return w, nil
		}
		p := filepath.Join(dir, name, "catalog.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		files[name] = f
		bufs[name] = bufio.NewWriterSize(f, 1<<16)
		return bufs[name], nil
	}
	err := declcfg.WalkMetasFS(ctx, root, func(path string, m *declcfg.Meta, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		pkg := m.Package
		if m.Schema == declcfg.SchemaPackage {
			pkg = m.Name
		}
		kp := k.Packages[pkg]
		if kp == nil && pkg != "" {
			return nil
		}
		blob, keep, err := filterMeta(m, kp)
		if err != nil {
			return fmt.Errorf("%s: %s %q: %w", path, m.Schema, m.Name, err)
		}
		if !keep {
			return nil
		}
		name := pkg
		if name == "" {
			name = "_catalog"
		}
		w, err := out(name)
		if err != nil {
			return err
		}
		if _, err := w.Write(blob); err != nil {
			return err
		}
		return w.WriteByte('\n')
	}, declcfg.WithConcurrency(1))
	if err != nil {
		return err
	}
	for name, w := range bufs {
		if err := w.Flush(); err != nil {
			return err
		}
		if err := files[name].Close(); err != nil {
			return err
		}
		delete(files, name)
	}
	return Validate(ctx, os.DirFS(dir))
}

// Validate loads a catalog and checks it with the operator-framework's
// model, as `opm validate` does.
func Validate(ctx context.Context, root fs.FS) error {
	cfg, err := declcfg.LoadFS(ctx, root)
	if err != nil {
		return fmt.Errorf("loading the filtered catalog: %w", err)
	}
	m, err := declcfg.ConvertToModel(*cfg)
	if err != nil {
		return fmt.Errorf("the filtered catalog is not valid: %w", err)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("the filtered catalog is not valid: %w", err)
	}
	return nil
}

// filterMeta returns the document as the filtered catalog holds it, and
// whether it stays at all.
func filterMeta(m *declcfg.Meta, kp *KeptPackage) ([]byte, bool, error) {
	switch m.Schema {
	case declcfg.SchemaPackage:
		return setField(m.Blob, "defaultChannel", kp.DefaultChannel)
	case declcfg.SchemaChannel:
		entries := kp.Channels[m.Name]
		if entries == nil {
			return nil, false, nil
		}
		return keepEntries(m.Blob, func(e json.RawMessage) (bool, error) {
			var v struct{ Name string }
			err := json.Unmarshal(e, &v)
			return entries[v.Name], err
		})
	case declcfg.SchemaBundle:
		for _, entries := range kp.Channels {
			if entries[m.Name] {
				return m.Blob, true, nil
			}
		}
		return nil, false, nil
	case declcfg.SchemaDeprecation:
		bundles := map[string]bool{}
		for _, b := range kp.Bundles() {
			bundles[b] = true
		}
		return keepEntries(m.Blob, func(e json.RawMessage) (bool, error) {
			var v declcfg.DeprecationEntry
			if err := json.Unmarshal(e, &v); err != nil {
				return false, err
			}
			switch v.Reference.Schema {
			case declcfg.SchemaChannel:
				return kp.Channels[v.Reference.Name] != nil, nil
			case declcfg.SchemaBundle:
				return bundles[v.Reference.Name], nil
			}
			return true, nil
		})
	}
	return m.Blob, true, nil
}

// setField sets one top-level field of a JSON object, keeping the others.
func setField(blob []byte, field string, value any) ([]byte, bool, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(blob, &obj); err != nil {
		return nil, false, err
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, false, err
	}
	obj[field] = v
	out, err := json.Marshal(obj)
	return out, true, err
}

// keepEntries keeps the elements of the document's "entries" list that
// keep says to; a document left with none goes.
func keepEntries(blob []byte, keep func(json.RawMessage) (bool, error)) ([]byte, bool, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(blob, &obj); err != nil {
		return nil, false, err
	}
	var entries, kept []json.RawMessage
	if err := json.Unmarshal(obj["entries"], &entries); err != nil {
		return nil, false, fmt.Errorf("entries: %w", err)
	}
	for _, e := range entries {
		ok, err := keep(e)
		if err != nil {
			return nil, false, fmt.Errorf("entries: %w", err)
		}
		if ok {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil, false, nil
	}
	return setField(blob, "entries", kept)
}
