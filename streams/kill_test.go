package streams

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/streams/streamstest"
)

const killJob = `name: kill
sources: [{name: v, topic: kill-in, value: {format: json, fields: {n: int}}}]
steps:
  - window: {type: tumbling, size: 10s}
  - aggregate: {fields: {count: count, total: {fn: sum, of: n}}}
  - emit: final
sink: {topic: kill-out}
commit_interval: 200ms
session_timeout: 6s
`

var apiAddrRE = regexp.MustCompile(`sluice API listening"?.*addr=(\S+)`)

// startStreams runs `sluice streams` as an OS process and returns it with
// its API base URL.
func startStreams(t *testing.T, bootstrap string) (*testenv.Process, string) {
	t.Helper()
	p := testenv.StartProcess(t, "streams", "--bootstrap", bootstrap, "--api-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log-level", "info")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, err := p.WaitLog(ctx, apiAddrRE)
	if err != nil {
		t.Fatal(err)
	}
	return p, "http://" + addr
}

// TestKillStreamsProcess runs a windowed count on two `sluice streams`
// processes, kills one with SIGKILL while records flow, and checks that
// after its tasks move to the other process every window's final count
// and sum equal those of an undisturbed run: restored state neither loses
// nor double-counts a record (outputs may repeat, at least once, but with
// the same values).
func TestKillStreamsProcess(t *testing.T) {
	addr := testenv.StartBroker(t).Addr
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 4, 1, nil, "kill-in"); err != nil {
		t.Fatal(err)
	}
	a, urlA := startStreams(t, addr)
	b, _ := startStreams(t, addr)

	resp, err := http.Post(urlA+"/api/v1/jobs", "application/yaml", bytes.NewReader([]byte(killJob)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply: %s %s", resp.Status, body)
	}
	waitMembers(t, cl, "sluice-streams-kill", 2)

	ledger := streamstest.NewWindowLedger("kill-in", 4, 8)
	produce := func(from, to int64) {
		t.Helper()
		if err := cl.ProduceSync(ctx, ledger.Records(from, to)...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	committed := func() int64 {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "sluice-streams-kill")
		var n int64
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) { n += max(o.At, 0) })
		}
		return n
	}

	produce(0, 20000) // 640 records
	for deadline := time.Now().Add(60 * time.Second); committed() < 640; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("batch 1 not committed: %d of 640", committed())
		}
	}
	// Kill A while the second batch is being produced and processed.
	for ts := int64(20000); ts < 30000; ts += 1000 {
		produce(ts, ts+1000)
		time.Sleep(20 * time.Millisecond)
	}
	a.Kill()
	t.Logf("killed instance A (pid %d) at %d committed records", a.Pid(), committed())
	produce(30000, 40000)
	// Close every window: stream time of each partition passes 40s.
	if err := cl.ProduceSync(ctx, ledger.Closers()...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	out, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("kill-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	emitted := ledger.Check(rctx, t, out, b.Logs)
	t.Logf("%d windows, %d outputs (at least once)", ledger.Windows(), emitted)
	if !regexp.MustCompile(`task restored`).MatchString(b.Logs()) {
		t.Errorf("B restored no task from the changelog")
	}
}
