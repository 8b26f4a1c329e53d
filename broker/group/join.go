package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file holds the rebalance transitions, following Kafka's classic
// GroupCoordinator. They mutate the group and queue answers in g.fx; the
// Coordinator delivers them.

type joinArgs struct {
	memberID         string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol
	requireKnownID   bool   // JoinGroup v4+ without an instance id
	skipAssignOK     bool   // JoinGroup v9+ understands SkipAssignment (KIP-814)
	newID            string // the id a new member gets (generated at the edge)
}

// pendingStore is a write whose outcome decides the transition: the
// Coordinator appends rec, then calls done with 0 or the Kafka error code.
type pendingStore struct {
	rec  KV
	done func(now time.Time, code int16)
}

func (g *group) generationResult(m *member, leader string, withMembers bool) joinResult {
	r := joinResult{
		memberID:     m.id,
		generation:   g.generation,
		protocolType: strPtr(g.protocolType),
		protocol:     strPtr(g.protocol),
		leader:       leader,
	}
	if withMembers {
		r.members = make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
		for _, o := range g.members {
			r.members = append(r.members, kmsg.JoinGroupResponseMember{
				MemberID:         o.id,
				InstanceID:       o.instanceID,
				ProtocolMetadata: o.metadata(g.protocol),
			})
		}
	}
	return r
}

// join handles a JoinGroup. With wait, the answer comes later through
// g.fx.joins under res.memberID; with store, only after that write.
func (g *group) join(now time.Time, a joinArgs) (res joinResult, wait bool, store *pendingStore) {
	if g.state == stateDead {
		return joinError(a.memberID, kerr.CoordinatorNotAvailable), false, nil
	}
	if !g.supports(a.protocolType, a.protocols) {
		return joinError(a.memberID, kerr.InconsistentGroupProtocol), false, nil
	}
	defer g.checkJoin(now)
	if a.memberID == "" {
		if a.instanceID != nil {
			return g.staticNewJoin(now, a)
		}
		if a.requireKnownID {
			g.pending[a.newID] = now.Add(a.sessionTimeout)
			return joinError(a.newID, kerr.MemberIDRequired), false, nil
		}
		return g.addMemberAndRebalance(now, a, a.newID), true, nil
	}
	if _, ok := g.pending[a.memberID]; ok {
		if a.instanceID != nil { // pending members are never static
			return joinError(a.memberID, kerr.UnknownMemberID), false, nil
		}
		return g.addMemberAndRebalance(now, a, a.memberID), true, nil
	}
	if g.staticFenced(a.instanceID, a.memberID) {
		return joinError(a.memberID, kerr.FencedInstanceID), false, nil
	}
	m := g.get(a.memberID)
	if m == nil || (a.instanceID != nil && g.static[*a.instanceID] == "") {
		return joinError(a.memberID, kerr.UnknownMemberID), false, nil
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMember(m, a)
		return joinResult{memberID: m.id}, true, nil
	case stateCompletingRebalance:
		if m.sameProtocols(a.protocols) {
			// It lost the first answer; resend this generation's.
			return g.generationResult(m, g.leader, m.id == g.leader), false, nil
		}
		g.updateMember(m, a)
		g.prepareRebalance(now)
		return joinResult{memberID: m.id}, true, nil
	case stateStable:
		if m.id == g.leader || !m.sameProtocols(a.protocols) {
			// The leader rejoins to force a rebalance (e.g. topic metadata
			// changed); anyone with new metadata does too (cooperative).
			g.updateMember(m, a)
			g.prepareRebalance(now)
			return joinResult{memberID: m.id}, true, nil
		}
		return g.generationResult(m, g.leader, false), false, nil
	}
	return joinError(a.memberID, kerr.UnknownMemberID), false, nil
}

func (g *group) updateMember(m *member, a joinArgs) {
	m.protocols = a.protocols
	m.rebalanceTimeout = a.rebalanceTimeout
	m.sessionTimeout = a.sessionTimeout
	m.joined = true
}

func (g *group) addMemberAndRebalance(now time.Time, a joinArgs, id string) joinResult {
	m := &member{
		id:               id,
		instanceID:       a.instanceID,
		clientID:         a.clientID,
		clientHost:       a.clientHost,
		rebalanceTimeout: a.rebalanceTimeout,
		sessionTimeout:   a.sessionTimeout,
		protocolType:     a.protocolType,
		protocols:        a.protocols,
		joined:           true,
		isNew:            true,
		deadline:         now.Add(newMemberJoinTimeout),
	}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true // lets the initial delay stretch
	}
	g.add(m)
	g.maybePrepareRebalance(now)
	return joinResult{memberID: id}
}

// staticNewJoin is KIP-345: a static member coming back without a member id
// takes over its old entry under a new id, fencing the old id.
func (g *group) staticNewJoin(now time.Time, a joinArgs) (joinResult, bool, *pendingStore) {
	oldID, ok := g.static[*a.instanceID]
	if !ok {
		return g.addMemberAndRebalance(now, a, a.newID), true, nil
	}
	m := g.get(oldID)
	if m == nil || g.state == stateEmpty {
		return joinError("", kerr.UnknownMemberID), false, nil
	}
	leader := g.leader
	old := *m
	g.replaceStatic(*a.instanceID, oldID, a.newID)
	m.deadline = now.Add(a.sessionTimeout)
	g.updateMember(m, a)
	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			g.prepareRebalance(now)
			return joinResult{memberID: m.id}, true, nil
		}
		// No rebalance: persist the new id, then answer with the current
		// generation. A returning leader must not compute an assignment a
		// Stable group would not send: v9+ clients are told so (KIP-814),
		// older ones get the old leader id so they do not think they lead.
		gen := g.generation
		st := &pendingStore{rec: g.metadataRecord(g.currentAssignment())}
		st.done = func(now time.Time, code int16) {
			m.joined = false
			if code != 0 {
				if g.generation == gen && g.get(m.id) == m {
					g.replaceStatic(*a.instanceID, m.id, oldID)
					m.protocols, m.rebalanceTimeout, m.sessionTimeout = old.protocols, old.rebalanceTimeout, old.sessionTimeout
				}
				g.fx.joins = append(g.fx.joins, joinDelivery{a.newID, joinResult{err: code, memberID: a.newID, generation: -1}})
				return
			}
			if !a.skipAssignOK {
				g.fx.joins = append(g.fx.joins, joinDelivery{m.id, g.generationResult(m, leader, false)})
				return
			}
			isLeader := g.leader == m.id
			r := g.generationResult(m, g.leader, isLeader)
			r.skipAssign = isLeader
			g.fx.joins = append(g.fx.joins, joinDelivery{m.id, r})
		}
		return joinResult{memberID: m.id}, true, st
	case stateCompletingRebalance:
		// The leader may already hold the old id in its assignment; redo it.
		g.prepareRebalance(now)
	}
	return joinResult{memberID: m.id}, true, nil
}

func (g *group) replaceStatic(instanceID, oldID, newID string) {
	m := g.get(oldID)
	if m.joined {
		g.fx.joins = append(g.fx.joins, joinDelivery{oldID, joinError(oldID, kerr.FencedInstanceID)})
		m.joined = false
	}
	if m.syncing {
		g.fx.syncs = append(g.fx.syncs, syncDelivery{oldID, syncResult{err: kerr.FencedInstanceID.Code}})
		m.syncing = false
	}
	m.id = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	g.static[instanceID] = newID
}

func (g *group) maybePrepareRebalance(now time.Time) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		g.prepareRebalance(now)
	}
}

func (g *group) prepareRebalance(now time.Time) {
	if g.state == stateCompletingRebalance {
		g.resetAssignment(now, kerr.RebalanceInProgress.Code)
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	rt := g.rebalanceTimeout()
	if g.state == stateEmpty {
		g.initialJoin = true
		g.newMemberAdded = false
		g.joinDeadline = now.Add(g.p.initialDelay)
		g.remaining = max(rt-g.p.initialDelay, 0)
	} else {
		g.initialJoin = false
		g.joinDeadline = now.Add(rt)
	}
	g.transition(statePreparingRebalance, now)
	g.fx.rebalances++
	g.checkJoin(now)
}

// checkJoin ends the join phase when it is due: at once when every member
// has rejoined, at the deadline otherwise; an initial join always waits for
// its (possibly stretched) delay.
func (g *group) checkJoin(now time.Time) {
	if g.state != statePreparingRebalance {
		return
	}
	if g.initialJoin {
		if now.Before(g.joinDeadline) {
			return
		}
		if g.newMemberAdded && g.remaining > 0 {
			d := min(g.p.initialDelay, g.remaining)
			g.remaining -= d
			g.newMemberAdded = false
			g.joinDeadline = now.Add(d)
			return
		}
		g.completeJoin(now)
		return
	}
	if g.allJoined() || !now.Before(g.joinDeadline) {
		g.completeJoin(now)
	}
}

func (g *group) completeJoin(now time.Time) {
	// Dynamic members that did not rejoin in time are gone; static ones stay
	// until their session expires.
	for _, m := range append([]*member(nil), g.members...) {
		if !m.joined && m.instanceID == nil {
			g.remove(m.id)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait another
		// rebalance timeout for them or for their sessions to expire.
		g.initialJoin = false
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	clear(g.pendingSync)
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed = nil
		g.transition(stateEmpty, now)
		g.fx.records = append(g.fx.records, g.metadataRecord(nil))
		return
	}
	g.protocol = g.selectProtocol()
	g.computeSubscribed()
	g.transition(stateCompletingRebalance, now)
	g.fx.stabilized = true
	for _, m := range g.members {
		if m.joined {
			g.fx.joins = append(g.fx.joins, joinDelivery{m.id, g.generationResult(m, g.leader, m.id == g.leader)})
			m.joined = false
		}
		m.deadline = now.Add(m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.syncDeadline = now.Add(g.rebalanceTimeout())
}

func (g *group) electJoinedLeader() bool {
	l := g.get(g.leader)
	if l == nil {
		return false
	}
	if l.joined {
		return true
	}
	for _, m := range g.members {
		if m.joined {
			g.leader = m.id
			return true
		}
	}
	return false
}

// resetAssignment answers waiting SyncGroups with code and drops the
// assignments of a generation that did not complete.
func (g *group) resetAssignment(now time.Time, code int16) {
	for _, m := range g.members {
		m.assignment = nil
		if m.syncing {
			g.fx.syncs = append(g.fx.syncs, syncDelivery{m.id, syncResult{err: code, protocolType: strPtr(g.protocolType), protocol: strPtr(g.protocol)}})
			m.syncing = false
			m.deadline = now.Add(m.sessionTimeout)
		}
	}
}

func (g *group) setAssignment(now time.Time, assignment map[string][]byte) {
	for _, m := range g.members {
		m.assignment = assignment[m.id]
		if m.syncing {
			g.fx.syncs = append(g.fx.syncs, syncDelivery{m.id, syncResult{protocolType: strPtr(g.protocolType), protocol: strPtr(g.protocol), assignment: m.assignment}})
			m.syncing = false
			m.deadline = now.Add(m.sessionTimeout)
		}
	}
}

type syncArgs struct {
	memberID     string
	instanceID   *string
	generation   int32
	protocolType *string
	protocol     *string
	assignments  map[string][]byte
}

func syncError(err *kerr.Error) syncResult { return syncResult{err: err.Code} }

// sync handles a SyncGroup. With wait, the answer comes through g.fx.syncs;
// the leader's store must be written before the group turns Stable.
func (g *group) sync(now time.Time, a syncArgs) (res syncResult, wait bool, store *pendingStore) {
	switch {
	case g.state == stateDead:
		return syncError(kerr.CoordinatorNotAvailable), false, nil
	case g.staticFenced(a.instanceID, a.memberID):
		return syncError(kerr.FencedInstanceID), false, nil
	}
	m := g.get(a.memberID)
	switch {
	case m == nil:
		return syncError(kerr.UnknownMemberID), false, nil
	case a.generation != g.generation:
		return syncError(kerr.IllegalGeneration), false, nil
	case a.protocolType != nil && *a.protocolType != g.protocolType,
		a.protocol != nil && *a.protocol != g.protocol:
		return syncError(kerr.InconsistentGroupProtocol), false, nil
	}
	switch g.state {
	case stateEmpty:
		return syncError(kerr.UnknownMemberID), false, nil
	case statePreparingRebalance:
		return syncError(kerr.RebalanceInProgress), false, nil
	case stateStable:
		delete(g.pendingSync, m.id)
		m.deadline = now.Add(m.sessionTimeout)
		return syncResult{protocolType: strPtr(g.protocolType), protocol: strPtr(g.protocol), assignment: m.assignment}, false, nil
	}
	// CompletingRebalance.
	m.syncing = true
	delete(g.pendingSync, m.id)
	if m.id != g.leader {
		return syncResult{}, true, nil
	}
	assignment := make(map[string][]byte, len(g.members))
	for _, o := range g.members {
		b := a.assignments[o.id]
		if b == nil {
			b = []byte{} // members the leader left out get an empty assignment
		}
		assignment[o.id] = b
	}
	gen := g.generation
	st := &pendingStore{rec: g.metadataRecord(assignment)}
	st.done = func(now time.Time, code int16) {
		// Someone may have joined while we wrote; then this result is stale.
		if g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		if code != 0 {
			g.resetAssignment(now, code)
			g.maybePrepareRebalance(now)
			return
		}
		g.setAssignment(now, assignment)
		g.transition(stateStable, now)
	}
	return syncResult{}, true, st
}

// heartbeat returns Kafka's Heartbeat error code.
func (g *group) heartbeat(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.staticFenced(instanceID, memberID):
		return kerr.FencedInstanceID.Code
	}
	m := g.get(memberID)
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		m.deadline = now.Add(m.sessionTimeout)
		return kerr.RebalanceInProgress.Code
	}
	m.deadline = now.Add(m.sessionTimeout)
	return 0
}

// leave removes one member (LeaveGroup); an empty member id with an
// instance id removes that static member administratively.
func (g *group) leave(now time.Time, memberID string, instanceID *string) int16 {
	if memberID == "" {
		if instanceID != nil {
			if m := g.get(g.static[*instanceID]); m != nil {
				g.removeMember(now, m)
				return 0
			}
		}
		return kerr.UnknownMemberID.Code
	}
	if _, ok := g.pending[memberID]; ok {
		g.removePending(now, memberID)
		return 0
	}
	if g.staticFenced(instanceID, memberID) {
		return kerr.FencedInstanceID.Code
	}
	if m := g.get(memberID); m != nil {
		g.removeMember(now, m)
		return 0
	}
	return kerr.UnknownMemberID.Code
}

func (g *group) removeMember(now time.Time, m *member) {
	if m.joined {
		// Answer its pending join so a live client retries from scratch.
		g.fx.joins = append(g.fx.joins, joinDelivery{m.id, joinError("", kerr.UnknownMemberID)})
		m.joined = false
	}
	if m.syncing {
		g.fx.syncs = append(g.fx.syncs, syncDelivery{m.id, syncError(kerr.RebalanceInProgress)})
		m.syncing = false
	}
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.maybePrepareRebalance(now)
	case statePreparingRebalance:
		g.checkJoin(now)
	}
}

func (g *group) removePending(now time.Time, id string) {
	delete(g.pending, id)
	g.checkJoin(now)
}

// tick runs the group's timers due at now: pending-member and session
// expiry, the end of the join phase, and the pending-sync deadline.
func (g *group) tick(now time.Time) {
	if g.state == stateDead {
		return
	}
	for id, d := range g.pending {
		if !now.Before(d) {
			g.removePending(now, id)
		}
	}
	for _, m := range append([]*member(nil), g.members...) {
		if g.get(m.id) == m && m.expired(now) {
			g.fx.expired++
			g.removeMember(now, m)
		}
	}
	g.checkJoin(now)
	if (g.state == stateCompletingRebalance || g.state == stateStable) && len(g.pendingSync) > 0 && !now.Before(g.syncDeadline) {
		for id := range g.pendingSync {
			g.remove(id)
			g.fx.expired++
		}
		g.prepareRebalance(now)
	}
}
