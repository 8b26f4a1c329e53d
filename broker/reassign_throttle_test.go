package broker

import (
	"testing"
	"time"
)

// The replication throttle is a one-second token bucket: a full budget at
// first, debt for a batch sent whole, refilled at the rate.
func TestReplicationQuotaBucket(t *testing.T) {
	var q replicationQuota
	t0 := time.Unix(1000, 0)
	if b := q.budget(1000, t0); b != 1000 {
		t.Fatalf("first budget %d", b)
	}
	q.use(3000) // a batch bigger than the budget
	if b := q.budget(1000, t0.Add(time.Second)); b != -1000 {
		t.Fatalf("budget one second into a 2000-byte debt: %d", b)
	}
	if b := q.budget(1000, t0.Add(2500*time.Millisecond)); b != 500 {
		t.Fatalf("budget after the debt is paid: %d", b)
	}
	if b := q.budget(1000, t0.Add(time.Hour)); b != 1000 {
		t.Fatalf("the bucket holds one second at most: %d", b)
	}
	// A lower rate caps what is saved.
	if b := q.budget(10, t0.Add(time.Hour)); b != 10 {
		t.Fatalf("after lowering the rate: %d", b)
	}
}
