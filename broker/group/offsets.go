package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// validateCommit is Kafka's validateOffsetCommit: members commit with their
// id and generation; a commit with generation -1 and no member ("simple"
// consumer, admin tooling) is allowed only while the group is Empty.
func (g *group) validateCommit(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if instanceID != nil {
			if _, ok := g.static[*instanceID]; !ok {
				return kerr.UnknownMemberID.Code
			}
			if g.staticFenced(instanceID, memberID) {
				return kerr.FencedInstanceID.Code
			}
		}
		m := g.get(memberID)
		if m == nil {
			return kerr.UnknownMemberID.Code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
		if g.state == stateCompletingRebalance {
			// Valid id and generation but not yet synced: let it retry.
			return kerr.RebalanceInProgress.Code
		}
		m.deadline = now.Add(m.sessionTimeout)
		return 0
	}
	if g.state != stateEmpty {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func tombstone(group string, t tp) KV {
	return KV{Key: offsetKey(group, t.topic, t.partition)}
}

// expiredOffsets is Kafka's removeExpiredOffsets selection: in an Empty
// group everything expires retention after the group emptied; in a Stable
// consumer group, offsets of topics no longer subscribed expire retention
// after their commit; offsets-only groups expire per commit.
func (g *group) expiredOffsets(now time.Time, retention time.Duration) []tp {
	nowMs, ret := now.UnixMilli(), retention.Milliseconds()
	var base func(c committed) int64
	var subscribed map[string]bool
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(committed) int64 { return g.stateTime }
	case g.protocolType == "consumer" && g.subscribed != nil && g.state == stateStable:
		base = func(c committed) int64 { return c.commitTime }
		subscribed = g.subscribed
	case g.protocolType == "":
		base = func(c committed) int64 { return c.commitTime }
	default:
		return nil
	}
	var out []tp
	for t, c := range g.offsets {
		if subscribed[t.topic] {
			continue
		}
		if c.expireTime >= 0 {
			if nowMs >= c.expireTime {
				out = append(out, t)
			}
		} else if nowMs-base(c) >= ret {
			out = append(out, t)
		}
	}
	return out
}

// removeOffsets forgets offsets and returns their tombstones.
func (g *group) removeOffsets(tps []tp) []KV {
	var recs []KV
	for _, t := range tps {
		if _, ok := g.offsets[t]; ok {
			delete(g.offsets, t)
			recs = append(recs, tombstone(g.id, t))
		}
	}
	return recs
}

// maybeDie ends an Empty group left without offsets (Kafka's
// cleanupGroupMetadata); its metadata gets a tombstone if it ever had a
// generation.
func (g *group) maybeDie(now time.Time) []KV {
	if g.state != stateEmpty || len(g.offsets) > 0 || len(g.pending) > 0 || len(g.members) > 0 {
		return nil
	}
	g.transition(stateDead, now)
	if g.generation > 0 {
		return []KV{{Key: groupKey(g.id)}}
	}
	return nil
}

// dropOffsets removes offsets and lets the group die if nothing is left.
func (g *group) dropOffsets(now time.Time, tps []tp) []KV {
	recs := g.removeOffsets(tps)
	return append(recs, g.maybeDie(now)...)
}

func (g *group) allOffsets() []tp {
	out := make([]tp, 0, len(g.offsets))
	for t := range g.offsets {
		out = append(out, t)
	}
	return out
}
