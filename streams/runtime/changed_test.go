package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams/plan"
)

// A job whose aggregate changed between runs does not load state written
// by the old version (it would mean something else): the new version
// starts its tasks empty and goes on, instead of failing on restore.
func TestRunnerChangedJobDiscardsOldState(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "clicks", 1)
	v1 := compileJob(t, `name: clicks
sources: [{name: c, topic: clicks}]
steps:
  - aggregate: {fields: {n: count}}
sink: {topic: click-counts}
`)
	v2 := compileJob(t, `name: clicks
sources: [{name: c, topic: clicks}]
steps:
  - filter: 'true'
  - aggregate: {fields: {n: count, total: {fn: sum, of: v}}}
sink: {topic: click-counts}
`)
	produce := func(v string) {
		t.Helper()
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "clicks", Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	run := func(p *plan.Plan) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: p, CommitInterval: 50 * time.Millisecond})
		}()
		return cancel, done
	}
	produce(`{"v": 1}`)
	cancel, done := run(v1)
	consumeN(t, addr, "click-counts", 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	produce(`{"v": 2}`)
	cancel, done = run(v2)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	got := consumeN(t, addr, "click-counts", 2)
	if len(got) != 2 || !strings.HasSuffix(got[0], `{"n":1,"total":2}`) && !strings.HasSuffix(got[1], `{"n":1,"total":2}`) {
		t.Fatalf(`outputs %q, want one ending in {"n":1,"total":2}`, got)
	}
}
