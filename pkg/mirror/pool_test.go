package mirror

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestPoolGivesEachClientAtMostTwoRequestsThenSharesAtTheLimit(t *testing.T) {
	ctx := context.Background()
	p := &pool[int]{limit: poolSize(8)}
	opened := 0
	var spares []bool
	open := func(_ context.Context, spare bool) (int, error) {
		opened++
		spares = append(spares, spare)
		return opened, nil
	}
	users := map[int]int{}
	var releases []func()
	for range 8 {
		c, release, err := p.get(ctx, open)
		if err != nil {
			t.Fatal(err)
		}
		users[c]++
		releases = append(releases, release)
	}
	if opened != 4 {
		t.Errorf("8 requests at once opened %d clients, want 4 (two requests each)", opened)
	}
	if want := []bool{false, true, true, true}; !slices.Equal(spares, want) {
		t.Errorf("opens told spare %v, want %v: only the first client is needed, the others may fail", spares, want)
	}
	for c, n := range users {
		if n != 2 {
			t.Errorf("client %d serves %d requests at once, want 2", c, n)
		}
	}
	// At the limit, a ninth request shares the least busy client rather than open a fifth.
	releases[0]()
	releases[0]() // a second release of the same request changes nothing
	c, release, err := p.get(ctx, open)
	if err != nil || opened != 4 {
		t.Fatalf("ninth request: client %d, %d opened, error %v; want one of the 4", c, opened, err)
	}
	release()
	closed := 0
	p.each(func(int) { closed++ })
	if closed != 4 {
		t.Errorf("closing the pool closed %d clients, want 4", closed)
	}
}

func TestPoolOpenFailureFailsThatCallerAndTheNextTriesAgain(t *testing.T) {
	ctx := context.Background()
	p := &pool[string]{limit: 4}
	broken := errors.New("manifest unknown")
	if _, _, err := p.get(ctx, func(context.Context, bool) (string, error) { return "", broken }); !errors.Is(err, broken) {
		t.Fatalf("get with a failing open: %v, want its error", err)
	}
	c, release, err := p.get(ctx, func(context.Context, bool) (string, error) { return "ok", nil })
	if err != nil || c != "ok" {
		t.Fatalf("next get: %q, %v; want a client opened with its own open", c, err)
	}
	release()
	// With the client open, a failing open for more capacity falls back on it.
	for i := range 3 {
		c, _, err := p.get(ctx, func(context.Context, bool) (string, error) { return "", broken })
		if err != nil || c != "ok" {
			t.Errorf("request %d, opens failing: %q, %v; want the open client", i+1, c, err)
		}
	}
}
