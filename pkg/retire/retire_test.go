package retire_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
	"github.com/airgap-ocp/oc-plugins/pkg/mirror"
	"github.com/airgap-ocp/oc-plugins/pkg/plan"
	"github.com/airgap-ocp/oc-plugins/pkg/release"
	"github.com/airgap-ocp/oc-plugins/pkg/retire"
	"github.com/airgap-ocp/oc-plugins/pkg/retry"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// mirrored is a release as the mirror copied it: its plan, below the
// repository repo of dst.
type mirrored struct {
	rel  *testenv.Release
	plan *plan.Plan
}

// twoReleases pushes 4.99.1 and a 4.99.2 that shares all but two of its
// components, then mirrors both into repo of dst with the mirror's own
// plan builder and engine, as `oc mirror lite release` does.
func twoReleases(t *testing.T, src, dst *testenv.Registry, repo string) (old, cur mirrored) {
	t.Helper()
	ctx := context.Background()
	old.rel = src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.1", Components: 6, SigstoreSignature: true})
	cur.rel = src.PushRelease(t, testenv.ReleaseSpec{Version: "4.99.2", Components: 6, ComponentsFrom: "4.99.1", Changed: []string{"cli", "cli-artifacts"}})
	sys := testenv.CombinedSystemContext(t, src, dst)
	for _, m := range []*mirrored{&old, &cur} {
		payload, err := release.ReadPayload(ctx, sys, m.rel.PullSpec)
		if err != nil {
			t.Fatal(err)
		}
		if m.plan, err = payload.Plan(dst.Ref(repo), ""); err != nil {
			t.Fatal(err)
		}
		rep, err := mirror.Mirror(ctx, m.plan, mirror.Registries{}, mirror.Registry{}, mirror.Options{SourceCtx: sys, DestCtx: sys, SigstoreAttachments: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return old, cur
}

func options(r *testenv.Registry) retire.Options {
	return retire.Options{Sys: r.SystemContext(), Retry: retry.Policy{Attempts: 2}}
}

func pullsByDigest(t *testing.T, sys *types.SystemContext, ref string) error {
	t.Helper()
	return testenv.PullsByDigest(context.Background(), sys, ref)
}

func digestOf(pullSpec string) digest.Digest {
	return digest.Digest(pullSpec[strings.LastIndex(pullSpec, "@")+1:])
}

func TestRetireAReleaseKeepsWhatAKeptReleaseSharesAndGCFreesTheRest(t *testing.T) {
	ctx := context.Background()
	src, dst := testenv.StartRegistry(t), testenv.StartRegistry(t)
	old, cur := twoReleases(t, src, dst, "ocp/release")
	repo := dst.Ref("ocp/release")

	p, err := retire.Build(ctx, old.plan, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[digest.Digest]retire.Manifest{}
	for _, m := range p.Delete {
		deleted[m.Digest] = m
	}
	kept := map[digest.Digest]retire.Manifest{}
	for _, m := range p.Keep {
		kept[m.Digest] = m
	}
	// The release image, the two changed components and the sigstore
	// signature go; the four shared components stay, and say why.
	if m, ok := deleted[old.rel.Digest]; !ok || m.Reason != "release 4.99.1-x86_64" || len(m.Tags) != 1 || m.Tags[0] != "4.99.1-x86_64" {
		t.Errorf("the release image is not planned as it should be: %+v", m)
	}
	for name, ps := range old.rel.Components {
		d := digestOf(ps)
		shared := cur.rel.Components[name] == strings.Replace(ps, old.rel.ComponentRepo, cur.rel.ComponentRepo, 1)
		switch _, del := deleted[d]; {
		case shared && del:
			t.Errorf("component %s, which 4.99.2 shares, is planned for deletion", name)
		case shared && !strings.Contains(kept[d].Kept, "the tag 4.99.2-x86_64-"+name+" stays"):
			t.Errorf("component %s: kept for %q, want the 4.99.2 tag named", name, kept[d].Kept)
		case !shared && !del:
			t.Errorf("component %s, 4.99.1's own, is not planned for deletion", name)
		}
	}
	sig := strings.Replace(old.rel.Digest.String(), ":", "-", 1) + ".sig"
	foundSig := false
	for _, m := range p.Delete {
		if len(m.Tags) == 1 && m.Tags[0] == sig && m.Kind == plan.SigstoreSignature {
			foundSig = true
		}
	}
	if len(p.Delete) != 4 || len(p.Keep) != 4 || !foundSig || len(p.Missing) != 0 {
		t.Fatalf("want 4 to delete (release, 2 components, signature) and 4 kept, got %d, %d (signature: %v), missing %v", len(p.Delete), len(p.Keep), foundSig, p.Missing)
	}
	if p.Delete[0].ReclaimableBytes <= 0 || p.ReclaimableBytes <= p.Delete[0].ReclaimableBytes {
		t.Errorf("reclaimable sizes: first %d, total %d", p.Delete[0].ReclaimableBytes, p.ReclaimableBytes)
	}

	before, err := dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Execute(ctx, options(dst), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome != retire.Deleted {
			t.Errorf("%s: %s: %v", r.Manifest.Ref(), r.Outcome, r.Err)
		}
	}
	if err := dst.GarbageCollect(ctx, false); err != nil {
		t.Fatal(err)
	}
	after, err := dst.StoredBlobs()
	if err != nil {
		t.Fatal(err)
	}
	var freed int64
	for d, size := range before {
		if _, ok := after[d]; !ok {
			freed += size
		}
	}
	// What the plan said the garbage collector can reclaim is what it did.
	if freed != p.ReclaimableBytes || freed == 0 {
		t.Errorf("garbage collection freed %d bytes, the plan said %d", freed, p.ReclaimableBytes)
	}

	// Every image of the kept release pulls by digest, blobs and all; the
	// retired ones do not.
	sys := dst.SystemContext()
	if err := pullsByDigest(t, sys, repo+"@"+cur.rel.Digest.String()); err != nil {
		t.Errorf("the kept release does not pull: %v", err)
	}
	for name, ps := range cur.rel.Components {
		if err := pullsByDigest(t, sys, repo+"@"+digestOf(ps).String()); err != nil {
			t.Errorf("component %s of the kept release does not pull: %v", name, err)
		}
	}
	for _, m := range p.Delete {
		if err := pullsByDigest(t, sys, m.Ref()); err == nil {
			t.Errorf("%s (%s) still pulls after the delete", m.Ref(), m.Reason)
		}
	}

	// Safe to repeat: the same plan again deletes nothing and fails nothing.
	res, err = p.Execute(ctx, options(dst), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Outcome != retire.Gone {
			t.Errorf("second run: %s: %s (%v), want %q", r.Manifest.Ref(), r.Outcome, r.Err, retire.Gone)
		}
	}
	// And planned again, what is left of 4.99.1 is only what 4.99.2 keeps.
	again, err := retire.Build(ctx, old.plan, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Delete) != 0 || len(again.Keep) != 4 || len(again.Missing) != 3 {
		t.Errorf("planned again: %d to delete, %d kept, %d missing; want 0, 4 and 3 (the release and its two own components)", len(again.Delete), len(again.Keep), len(again.Missing))
	}
}

func TestARegistryThatRefusesDeletesStopsTheRunWithNothingDeleted(t *testing.T) {
	ctx := context.Background()
	src, dst := testenv.StartRegistry(t), testenv.StartRegistry(t, testenv.WithDeletesDisabled())
	old, _ := twoReleases(t, src, dst, "ocp/release")
	p, err := retire.Build(ctx, old.plan, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Execute(ctx, options(dst), nil)
	var refused *retire.DeletesRefusedError
	if !errors.As(err, &refused) || refused.Status != 405 || refused.Registry != dst.Host || len(res) != 0 {
		t.Fatalf("want the registry's refusal (405) before any result, got %v, %d results", err, len(res))
	}
	if !strings.Contains(err.Error(), "REGISTRY_STORAGE_DELETE_ENABLED=true") {
		t.Errorf("the error does not say how deletes are enabled: %v", err)
	}
	for _, m := range p.Delete {
		if err := pullsByDigest(t, dst.SystemContext(), m.Ref()); err != nil {
			t.Errorf("%s does not pull after a refused delete: %v", m.Ref(), err)
		}
	}
}

func TestATagPushedAgainSincePlanningIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	dst := testenv.StartRegistry(t)
	first, err := dst.PushImage(ctx, "apps/web:v1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("one")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Items: []plan.Item{{Source: "quay.io/apps/web:v1", Path: dst.Ref("apps/web"), Tag: "v1", Kind: plan.Image, Origin: "mapping.txt line 1"}}}
	rp, err := retire.Build(ctx, p, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Delete) != 1 || rp.Delete[0].Digest != first {
		t.Fatalf("plan: %+v", rp.Delete)
	}
	// Someone pushes v1 again between the plan and the delete.
	second, err := dst.PushImage(ctx, "apps/web:v1", testenv.Image{Layers: []testenv.Layer{{Files: []testenv.File{{Name: "a", Data: []byte("two")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rp.Execute(ctx, options(dst), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != retire.Changed {
		t.Fatalf("want the image left alone as changed, got %+v", res)
	}
	if err := pullsByDigest(t, dst.SystemContext(), dst.Ref("apps/web@"+second.String())); err != nil {
		t.Errorf("the image pushed again does not pull: %v", err)
	}
}

// TestWhatAStayingCatalogListsIsKeptWithItsImages: a related image that
// is a manifest list is planned; a catalog that stays lists it, so it, the
// images it lists and their blobs stay, and only the bundle no catalog
// lists goes, its bytes alone reclaimable.
func TestWhatAStayingCatalogListsIsKeptWithItsImages(t *testing.T) {
	ctx := context.Background()
	dst := testenv.StartRegistry(t)
	var arches []testenv.Image
	for _, a := range []string{"amd64", "arm64"} {
		arches = append(arches, testenv.Image{Architecture: a, Layers: []testenv.Layer{{Files: []testenv.File{{Name: "operand", Data: []byte(a)}}}}})
	}
	operand, err := dst.PushImageList(ctx, "operators/operand:x", arches)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := dst.PushImage(ctx, "operators/bundle:x", testenv.OperatorImage("bundle"))
	if err != nil {
		t.Fatal(err)
	}
	// The plan names the tags too, so no tag left keeps them.
	item := func(repo string, d digest.Digest) plan.Item {
		return plan.Item{Source: "quay.io/" + repo + "@" + d.String(), Path: dst.Ref(repo), Tag: "x", Digest: d, Kind: plan.OperatorImage, Origin: "catalog A"}
	}
	p := &plan.Plan{}
	if err := p.Add(item("operators/operand", operand), item("operators/bundle", bundle)); err != nil {
		t.Fatal(err)
	}
	without, err := retire.Build(ctx, p, "", options(dst))
	if err != nil {
		t.Fatal(err)
	}
	listed := plan.Item{Source: "quay.io/operators/operand@" + operand.String(), Path: dst.Ref("operators/operand"), Digest: operand}
	cats := &retire.Catalogs{Listed: []retire.Listed{{Item: listed, Why: "catalog B stays and lists it"}}}
	with, err := retire.BuildKeeping(ctx, p, "", cats, options(dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(without.Delete) != 4 { // the list, its two images, the bundle
		t.Fatalf("without a staying catalog: %d to delete, want 4", len(without.Delete))
	}
	if len(with.Delete) != 1 || with.Delete[0].Digest != bundle || len(with.Keep) != 3 {
		t.Fatalf("with catalog B staying: delete %v, keep %v; want the bundle gone, the operand and its images kept", with.Delete, with.Keep)
	}
	for _, m := range with.Keep {
		if !strings.Contains(m.Kept, "catalog B stays and lists it") {
			t.Errorf("%s kept for %q, want catalog B named", m.Ref(), m.Kept)
		}
	}
	if with.ReclaimableBytes <= 0 || with.ReclaimableBytes >= without.ReclaimableBytes {
		t.Errorf("reclaimable: %d with the operand kept, %d without", with.ReclaimableBytes, without.ReclaimableBytes)
	}
}
