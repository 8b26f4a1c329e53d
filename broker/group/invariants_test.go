package group

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomOpsKeepInvariants drives the pure state machine with random
// operations and checks its invariants after each one.
func TestRandomOpsKeepInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		p := &params{minSession: time.Second, maxSession: time.Hour, initialDelay: time.Duration(r.IntN(2)) * 3 * time.Second}
		now := time.Unix(0, 0)
		g := newGroup("g", p, now)
		ids := []string{"x"}
		insts := []string{"i1", "i2"}
		n := 0
		pick := func() string { return ids[r.IntN(len(ids))] }
		for step := 0; step < 300; step++ {
			var op string
			switch r.IntN(7) {
			case 0:
				n++
				id := fmt.Sprintf("m%d", n)
				ids = append(ids, id)
				a := joinArgs{newID: id, sessionTimeout: 10 * time.Second, rebalanceTimeout: 30 * time.Second, protocolType: "consumer",
					protocols: []protocol{{name: "range", metadata: []byte{byte(r.IntN(2))}}}, requireKnownID: r.IntN(2) == 0}
				if r.IntN(3) == 0 {
					a.instanceID = &insts[r.IntN(2)]
					a.requireKnownID = false
				}
				_, _, st := g.join(now, a)
				if st != nil {
					st.done(now, int16(r.IntN(2))*15)
				}
				op = "new join"
			case 1:
				a := joinArgs{memberID: pick(), sessionTimeout: 10 * time.Second, rebalanceTimeout: 30 * time.Second, protocolType: "consumer",
					protocols: []protocol{{name: "range", metadata: []byte{byte(r.IntN(2))}}}}
				g.join(now, a)
				op = "rejoin"
			case 2:
				id := pick()
				_, _, st := g.sync(now, syncArgs{memberID: id, generation: g.generation, assignments: map[string][]byte{id: {1}}})
				if st != nil {
					st.done(now, int16(r.IntN(2))*15)
				}
				op = "sync"
			case 3:
				g.heartbeat(now, pick(), nil, g.generation)
				op = "heartbeat"
			case 4:
				g.leave(now, pick(), nil)
				op = "leave"
			default:
				now = now.Add(time.Duration(r.IntN(15)) * time.Second)
				g.tick(now)
				op = "tick"
			}
			g.fx = effects{}
			if err := checkInvariants(g); err != nil {
				t.Fatalf("seed %d step %d (%s): %v\n%s", seed, step, op, err, describeGroup(g))
			}
		}
	}
}

func checkInvariants(g *group) error {
	seen := map[string]bool{}
	for _, m := range g.members {
		if seen[m.id] {
			return fmt.Errorf("duplicate member %s", m.id)
		}
		seen[m.id] = true
		if m.instanceID != nil && g.static[*m.instanceID] != m.id {
			return fmt.Errorf("static map misses %s", m.id)
		}
		if g.state != statePreparingRebalance && m.joined && g.state != stateStable {
			return fmt.Errorf("member %s joined outside a rebalance (%s)", m.id, g.state)
		}
	}
	for inst, id := range g.static {
		if !seen[id] {
			return fmt.Errorf("static %s points to missing %s", inst, id)
		}
	}
	for id := range g.pendingSync {
		if !seen[id] {
			return fmt.Errorf("pending sync for missing %s", id)
		}
	}
	switch {
	case len(g.members) > 0 && !seen[g.leader]:
		return fmt.Errorf("leader %q is not a member", g.leader)
	case len(g.members) == 0 && g.state != stateEmpty && g.state != statePreparingRebalance && g.state != stateDead:
		return fmt.Errorf("no members in %s", g.state)
	case len(g.members) > 0 && g.state == stateEmpty:
		return fmt.Errorf("members in an Empty group")
	case (g.state == stateStable || g.state == stateCompletingRebalance) && g.protocol == "":
		return fmt.Errorf("%s without protocol", g.state)
	}
	return nil
}
