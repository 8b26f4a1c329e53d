package schemaregistry_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/schemaregistry"
)

// TestLeaderElection runs two instances in one group: one leads, the
// follower forwards writes to it, and when the leader stops the follower
// takes over and keeps allocating ids above the highest.
func TestLeaderElection(t *testing.T) {
	kafka := startKafka(t)
	elect := func(c *schemaregistry.Config) { c.NoElection = false }
	a := startRegistry(t, kafka, elect)
	b := startRegistry(t, kafka, elect)
	leader, follower := a, b
	// Wait until both agree on one leader.
	for {
		sa, ua := a.Leader()
		sb, ub := b.Leader()
		if ua != "" && ua == ub && sa != sb {
			if sb {
				leader, follower = b, a
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, u := follower.Leader(); u != leader.url {
		t.Fatalf("follower sees leader %s, want %s", u, leader.url)
	}

	// A write on the follower is forwarded.
	id1 := register(t, follower.url, "fwd", schemaBody(`"string"`))
	id2 := register(t, leader.url, "direct", schemaBody(`"int"`))
	if id1 == id2 {
		t.Fatalf("ids %d %d", id1, id2)
	}
	// Both serve reads from their own memory, once the follower caught up.
	for _, r := range []*testRegistry{leader, follower} {
		for do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", r.url, id2), nil).status != 200 {
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The leader goes; the follower takes over.
	leader.stop()
	for {
		if self, _ := follower.Leader(); self {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	id3 := register(t, follower.url, "after", schemaBody(`"long"`))
	if id3 <= id2 || id3 <= id1 {
		t.Fatalf("id after failover %d, earlier %d %d", id3, id1, id2)
	}
}
