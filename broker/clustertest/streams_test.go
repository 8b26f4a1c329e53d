package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

const failoverJob = `name: failover
sources: [{name: v, topic: win-in, value: {format: json, fields: {n: int}}}]
steps:
  - window: {type: tumbling, size: 10s}
  - aggregate: {fields: {count: count, total: {fn: sum, of: n}}}
  - emit: final
sink: {topic: win-out}
commit_interval: 200ms
`

// A windowed stream job (`sluice streams` process, state in compacted
// changelogs) goes on when the broker leading most partitions is killed
// mid-stream: every window's final count and sum are those of the records
// produced, none lost or counted twice.
func TestStreamsAcrossFailover(t *testing.T) {
	c := Start(t, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c.WaitBrokers(ctx, 3)
	adm := c.Admin()
	c.CreateTopic(ctx, adm, "win-in", 3, 3)
	c.CreateTopic(ctx, adm, "win-out", 1, 3)
	bootstrap := strings.Join(c.Seeds(), ",")
	proc := testenv.StartProcess(t, "streams", "--bootstrap", bootstrap, "--api-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log-level", "info")
	addr, err := proc.WaitLog(ctx, regexp.MustCompile(`sluice API listening"?.*addr=(\S+)`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/api/v1/jobs", "application/yaml", bytes.NewReader([]byte(failoverJob)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply: %s %s", resp.Status, body)
	}

	type win struct {
		key   string
		start int
	}
	type agg struct{ Count, Total int }
	want := map[win]agg{}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	produce := func(from, to int64) {
		t.Helper()
		var recs []*kgo.Record
		for ts := from; ts < to; ts += 250 {
			for k := range 6 {
				key := fmt.Sprint("k", k)
				n := int(ts/250)%7 + k
				recs = append(recs, &kgo.Record{Topic: "win-in", Partition: int32(k % 3), Key: []byte(key),
					Value: fmt.Appendf(nil, `{"n": %d}`, n), Timestamp: time.UnixMilli(ts)})
				w := win{key, int(ts / 10000 * 10000)}
				a := want[w]
				a.Count++
				a.Total += n
				want[w] = a
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %d..%d: %v", from, to, err)
		}
	}
	produce(0, 20000)
	time.Sleep(time.Second) // the job is mid-stream
	ps, err := Partitions(ctx, adm, "win-in")
	if err != nil {
		t.Fatal(err)
	}
	victim := ps[0].Leader
	c.Kill(victim)
	produce(20000, 40000)
	c.StartNode(victim)
	produce(40000, 50000)
	// Close every window: each partition's stream time passes 50 s.
	var ends []*kgo.Record
	for p := range int32(3) {
		ends = append(ends, &kgo.Record{Topic: "win-in", Partition: p, Key: []byte("end"), Value: []byte(`{"n": 0}`), Timestamp: time.UnixMilli(100000)})
	}
	if err := cl.ProduceSync(ctx, ends...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	out := c.Client(kgo.ConsumeTopics("win-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer out.Close()
	got := map[win]agg{}
	for len(got) < len(want) {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %d of %d windows; streams logs:\n%s", len(got), len(want), proc.Logs())
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v struct {
				Count, Total int
				Start        int `json:"window_start"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("output %q: %v", r.Value, err)
			}
			w := win{string(r.Key), v.Start}
			if prev, ok := got[w]; ok && prev != (agg{v.Count, v.Total}) {
				t.Errorf("window %v emitted %+v, then %+v", w, prev, agg{v.Count, v.Total})
			}
			got[w] = agg{v.Count, v.Total}
		})
	}
	for w, a := range want {
		if got[w] != a {
			t.Errorf("window %v: %+v, want %+v", w, got[w], a)
		}
	}
}
