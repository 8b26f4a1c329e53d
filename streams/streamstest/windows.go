// Package streamstest checks windowed stream jobs end to end: a
// WindowLedger makes keyed input whose per-window counts and sums it
// remembers, and compares what a job emits with them. The fault tests of
// streams and of the cluster use it.
package streamstest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WindowMs is the tumbling window the ledger counts in: the job under test
// must use `window: {type: tumbling, size: 10s}` and aggregate
// `count: count` and `total: {fn: sum, of: n}`.
const WindowMs = 10000

// Window is one key's window, by its start in event-time milliseconds.
type Window struct {
	Key   string
	Start int
}

// Agg is a window's result.
type Agg struct{ Count, Total int }

// WindowLedger makes the input of a job and knows the result of each window.
type WindowLedger struct {
	topic      string
	partitions int32
	keys       int
	want       map[Window]Agg
}

// NewWindowLedger makes records for topic, key k ("k0", "k1", ...) on
// partition k mod partitions.
func NewWindowLedger(topic string, partitions int32, keys int) *WindowLedger {
	return &WindowLedger{topic: topic, partitions: partitions, keys: keys, want: map[Window]Agg{}}
}

// Records returns a record per key for every 250 ms of event time in
// [from, to) (milliseconds), each `{"n": ...}` with n varying, and counts
// them into their windows. The caller produces them.
func (l *WindowLedger) Records(from, to int64) []*kgo.Record {
	var recs []*kgo.Record
	for ts := from; ts < to; ts += 250 {
		for k := range l.keys {
			key := fmt.Sprint("k", k)
			n := int(ts/250)%7 + k
			recs = append(recs, &kgo.Record{Topic: l.topic, Partition: int32(k) % l.partitions, Key: []byte(key),
				Value: fmt.Appendf(nil, `{"n": %d}`, n), Timestamp: time.UnixMilli(ts)})
			w := Window{key, int(ts / WindowMs * WindowMs)}
			a := l.want[w]
			a.Count++
			a.Total += n
			l.want[w] = a
		}
	}
	return recs
}

// Closers returns a record per partition (key "end", n 0) at event time
// 100 s: every partition's stream time passes the windows of Records
// before it, so the job closes and emits them.
func (l *WindowLedger) Closers() []*kgo.Record {
	var ends []*kgo.Record
	for p := range l.partitions {
		ends = append(ends, &kgo.Record{Topic: l.topic, Partition: p, Key: []byte("end"), Value: []byte(`{"n": 0}`), Timestamp: time.UnixMilli(100000)})
	}
	return ends
}

// Check reads the job's output from out until every window was seen and
// fails tb for a window whose result is wrong or that was emitted twice
// with different results. logs, shown when ctx ends first, is the job's
// log. It returns how many outputs it read (a window may be emitted more
// than once after a failover: at least once, the same result).
func (l *WindowLedger) Check(ctx context.Context, tb testing.TB, out *kgo.Client, logs func() string) int {
	tb.Helper()
	got := map[Window]Agg{}
	emitted := 0
	for len(got) < len(l.want) {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("saw %d of %d windows; the job's log:\n%s", len(got), len(l.want), logs())
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v struct {
				Count, Total int
				Start        int `json:"window_start"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				tb.Fatalf("output %q: %v", r.Value, err)
			}
			w := Window{string(r.Key), v.Start}
			emitted++
			if prev, ok := got[w]; ok && prev != (Agg{v.Count, v.Total}) {
				tb.Errorf("window %v emitted %+v, then %+v", w, prev, Agg{v.Count, v.Total})
			}
			got[w] = Agg{v.Count, v.Total}
		})
	}
	for w, a := range l.want {
		if got[w] != a {
			tb.Errorf("window %v: %+v, want %+v", w, got[w], a)
		}
	}
	return emitted
}

// Windows is how many windows the records made so far fall into.
func (l *WindowLedger) Windows() int { return len(l.want) }
