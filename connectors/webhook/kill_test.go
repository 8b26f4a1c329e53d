package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestKillWorker: kill -9 of the worker process running a trigger skips no
// record (at-least-once), and what is delivered again after a new worker
// takes over lies at or after the last committed offset.
func TestKillWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a group session timeout")
	}
	kafka := testenv.StartBroker(t).Addr
	a, urlA := testenv.StartConnectWorker(t, kafka, "trig-kill")
	e := newEnvWith(t, kafka, urlA)
	e.topic(t, "kill", 2)
	r := newReceiver(t, secret)
	r.answer = func(*batch, int) (int, string) {
		time.Sleep(3 * time.Millisecond) // keep delivery running while the worker dies
		return 200, ""
	}
	spec := map[string]any{"name": "kill", "url": r.srv.URL, "topics": []string{"kill"}, "batchSize": 10,
		"maximumBatchingWindowInSeconds": 0, "concurrency": 2, "secret": secret}
	waitFor(t, "trigger created", func() bool {
		st, b := e.do(t, "POST", "/api/v1/triggers", spec)
		if st == 409 && strings.Contains(string(b), "rebalance") || st >= 500 {
			return false
		}
		if st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
		return true
	})
	// A steady stream, so the runtime keeps pre-committing (it does so
	// after each Put) while deliveries complete.
	const half = 300
	for i := 0; i < half; i += 10 {
		for p := int32(0); p < 2; p++ {
			e.produce(t, "kill", p, i, 10, 100)
		}
		time.Sleep(15 * time.Millisecond)
	}
	a.Kill()
	committed := e.committed(t, "kill")["kill"]
	t.Logf("committed at kill: %v; delivered before: %d", committed, len(r.delivered()[0])+len(r.delivered()[1]))
	for p := int32(0); p < 2; p++ {
		e.produce(t, "kill", p, half, half, 100)
	}
	testenv.StartConnectWorker(t, kafka, "trig-kill")
	r.waitFor(t, "every record after the restart", func() bool {
		d := r.delivered()
		return covers(d[0], 2*half) && covers(d[1], 2*half)
	})
	r.mu.Lock()
	bad := r.badSig
	r.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("signatures: %v", bad)
	}
	for p, offs := range r.delivered() {
		seen := map[int64]int{}
		for _, o := range offs {
			seen[o]++
		}
		dups := 0
		for o, n := range seen {
			if n > 1 {
				dups++
				if o < committed[p] {
					t.Fatalf("partition %d: offset %d delivered %d times though committed up to %d", p, o, n, committed[p])
				}
			}
		}
		t.Logf("partition %d: %d deliveries, %d offsets repeated (all at or after %d)", p, len(offs), dups, committed[p])
	}
}

func covers(offs []int64, n int) bool {
	seen := make([]bool, n)
	c := 0
	for _, o := range offs {
		if o < int64(n) && !seen[o] {
			seen[o] = true
			c++
		}
	}
	return c == n
}
