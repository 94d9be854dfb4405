// Command link is toxiproxy's server with one more toxic, "linkrate": the
// benchmark's emulated WAN link (make bench BENCH_LINK=...) between the
// tools and each registry, driven with toxiproxy-cli.
//
// toxiproxy's own bandwidth toxic limits each connection on its own, so
// eight connections get eight times the rate: a link it is not. linkrate
// shares one rate among every connection of a proxy, in the direction it
// is added to, as a real link's bottleneck does; the latency toxic, which
// delays each chunk from its arrival without holding the next one back,
// gives the round trip.
package main

import (
	"flag"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// linkRate passes data at Rate KB/s (1000 bytes) for all of a proxy's
// connections together: each chunk takes the next slot of the link's
// timeline and is sent when that slot ends. A real link sends queued
// bytes back to back; here each connection's goroutine wakes a little
// late for its slot, and a connection alone on the link would lose that
// time on every chunk (a fifth of the rate at 150 ms, docs/benchmarks.md).
// So the timeline keeps up to slack of time lost to late wake-ups: the
// rate is never exceeded over any span longer than slack.
type linkRate struct {
	Rate int64 `json:"rate"`

	mu   sync.Mutex
	next time.Time
}

const slack = 5 * time.Millisecond

func (t *linkRate) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if t.Rate > 0 {
				d := time.Duration(len(c.Data)) * time.Millisecond / time.Duration(t.Rate)
				t.mu.Lock()
				if idle := time.Now().Add(-slack); t.next.Before(idle) {
					t.next = idle
				}
				t.next = t.next.Add(d)
				until := t.next
				t.mu.Unlock()
				timer := time.NewTimer(time.Until(until))
				select {
				case <-timer.C:
				case <-stub.Interrupt:
					timer.Stop()
					stub.Output <- c // drop no data
					return
				}
			}
			stub.Output <- c
		}
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "address for toxiproxy's API")
	port := flag.String("port", "8474", "port for toxiproxy's API")
	flag.Parse()
	toxics.Register("linkrate", new(linkRate))
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	server.Listen(*host, *port)
}
