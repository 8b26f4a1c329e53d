package clustertest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/streams/streamstest"
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

	ledger := streamstest.NewWindowLedger("win-in", 3, 6)
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	produce := func(from, to int64) {
		t.Helper()
		if err := cl.ProduceSync(ctx, ledger.Records(from, to)...).FirstErr(); err != nil {
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
	if err := cl.ProduceSync(ctx, ledger.Closers()...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	out := c.Client(kgo.ConsumeTopics("win-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer out.Close()
	ledger.Check(ctx, t, out, proc.Logs)
}
