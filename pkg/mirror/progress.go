package mirror

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// counters are the run's live numbers, read by the progress printer.
type counters struct {
	phase                               atomic.Value // string
	images, imagesDone                  atomic.Int64
	blobsTotal, blobsDone               atomic.Int64
	blobsCopied, blobsPresent           atomic.Int64
	blobsMounted                        atomic.Int64
	bytesTotal, bytesMoved, bytesCopied atomic.Int64
	manifests                           atomic.Int64
}

// progress prints the counters to w: a bar redrawn in place when w is a
// terminal, a plain line every interval otherwise (logs, CI).
type progress struct {
	w        io.Writer
	c        *counters
	tty      bool
	start    time.Time
	quit     chan struct{}
	finished sync.WaitGroup
	once     sync.Once
}

func newProgress(w io.Writer, interval time.Duration, c *counters) *progress {
	p := &progress{w: w, c: c, start: time.Now(), quit: make(chan struct{})}
	if w == nil {
		return p
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		interval = 200 * time.Millisecond
	} else if interval <= 0 {
		interval = 5 * time.Second
	}
	p.finished.Add(1)
	go func() {
		defer p.finished.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				if p.tty {
					p.print()
					fmt.Fprintln(p.w)
				}
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	p.once.Do(func() {
		close(p.quit)
		p.finished.Wait()
	})
}

func (p *progress) print() {
	c := p.c
	phase, _ := c.phase.Load().(string)
	moved, total := c.bytesMoved.Load(), c.bytesTotal.Load()
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(moved) / secs / 1e6
	}
	line := fmt.Sprintf("%s: images %d/%d, blobs %d/%d, %s/%s, %.1f MB/s",
		phase, c.imagesDone.Load(), c.images.Load(), c.blobsDone.Load(), c.blobsTotal.Load(),
		FormatBytes(moved), FormatBytes(total), rate)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	const width = 24
	filled := 0
	if total > 0 {
		filled = int(min(moved, total) * width / total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %s\x1b[K", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), line)
}

// FormatBytes writes n in decimal units (kB, MB, GB), as registries and
// progress bars usually do.
func FormatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
