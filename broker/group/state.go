package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names it on the wire.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	case stateDead:
		return "Dead"
	}
	return "Unknown"
}

// newMemberJoinTimeout bounds how long a member that has never completed a
// join may wait in a rebalance (Kafka's NewMemberJoinTimeoutMs): such members
// cannot heartbeat, and a client that gave up would otherwise linger.
const newMemberJoinTimeout = 5 * time.Minute

// params are the broker settings the state machine needs.
type params struct {
	minSession, maxSession time.Duration
	initialDelay           time.Duration
}

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol
	assignment       []byte

	joined  bool // awaiting a JoinGroup response in this rebalance (Kafka: isAwaitingJoin)
	syncing bool // awaiting a SyncGroup response (Kafka: isAwaitingSync)
	isNew   bool // has not yet completed a join; expires at deadline even while joined
	// deadline is when the session expires without a heartbeat.
	deadline time.Time
}

func (m *member) metadata(proto string) []byte {
	for _, p := range m.protocols {
		if p.name == proto {
			return p.metadata
		}
	}
	return nil
}

// sameProtocols is Kafka's MemberMetadata.matches: same names and metadata in
// the same order.
func (m *member) sameProtocols(ps []protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].name != m.protocols[i].name || string(ps[i].metadata) != string(m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// expired is Kafka's !hasSatisfiedHeartbeat at the session deadline: members
// waiting in a rebalance are kept alive, except new ones.
func (m *member) expired(now time.Time) bool {
	if now.Before(m.deadline) {
		return false
	}
	return m.isNew || !(m.joined || m.syncing)
}

type tp struct {
	topic     string
	partition int32
}

// committed is one committed offset as kept in memory and in
// OffsetCommitValue. Times are Unix milliseconds; expireTime -1 means none.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64
	expireTime  int64
}

// joinResult is a JoinGroup outcome before it is shaped for a request version.
type joinResult struct {
	err          int16
	memberID     string
	generation   int32
	protocolType *string
	protocol     *string
	leader       string
	members      []kmsg.JoinGroupResponseMember
	skipAssign   bool // KIP-814: the leader must not compute a new assignment
}

func joinError(memberID string, err *kerr.Error) joinResult {
	return joinResult{err: err.Code, memberID: memberID, generation: -1}
}

type syncResult struct {
	err          int16
	protocolType *string
	protocol     *string
	assignment   []byte
}

type joinDelivery struct {
	memberID string
	res      joinResult
}

type syncDelivery struct {
	memberID string
	res      syncResult
}

// effects collect what a transition asks of the edges: answers for waiting
// requests, and best-effort records to append.
type effects struct {
	joins      []joinDelivery
	syncs      []syncDelivery
	records    []KV
	rebalances int
	expired    int
	stabilized bool // a join phase completed with members (for logging)
}

// group is one classic group's state. It is guarded by the Coordinator's
// per-group lock; its methods do no I/O and take the time as an argument.
type group struct {
	id         string
	p          *params
	state      state
	stateTime  int64 // Unix ms of the last transition (Kafka's currentStateTimestamp)
	generation int32

	protocolType string // "" when no member ever joined (offsets-only group)
	protocol     string // selected protocol of the current generation, "" if none
	leader       string

	members []*member         // join order; small, so linear lookups are fine
	static  map[string]string // group.instance.id -> member id
	pending map[string]time.Time

	// PreparingRebalance: when the join phase ends. An initial join (group was
	// Empty) waits the initial rebalance delay and stretches it while new
	// members keep arriving, up to the rebalance timeout.
	joinDeadline   time.Time
	initialJoin    bool
	newMemberAdded bool
	remaining      time.Duration

	// Members that have not sent SyncGroup since the last join completed;
	// removed at syncDeadline (Kafka's pending sync).
	pendingSync  map[string]bool
	syncDeadline time.Time

	offsets    map[tp]committed
	subscribed map[string]bool // nil: unknown (non-consumer protocol), treat as subscribed to all

	fx effects

	// Coordinator-side fields (not touched by the state machine).
	lockedState
}

func newGroup(id string, p *params, now time.Time) *group {
	return &group{
		id:          id,
		p:           p,
		state:       stateEmpty,
		stateTime:   now.UnixMilli(),
		static:      map[string]string{},
		pending:     map[string]time.Time{},
		pendingSync: map[string]bool{},
		offsets:     map[tp]committed{},
		lockedState: newLockedState(),
	}
}

func (g *group) transition(s state, now time.Time) {
	g.state = s
	g.stateTime = now.UnixMilli()
}

func (g *group) get(id string) *member {
	for _, m := range g.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (g *group) staticFenced(instanceID *string, memberID string) bool {
	if instanceID == nil {
		return false
	}
	cur, ok := g.static[*instanceID]
	return ok && cur != memberID
}

func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	delete(g.pending, m.id)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	g.members = append(g.members, m)
}

func (g *group) remove(id string) *member {
	for i, m := range g.members {
		if m.id != id {
			continue
		}
		g.members = append(g.members[:i:i], g.members[i+1:]...)
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		delete(g.pendingSync, id)
		if g.leader == id {
			g.leader = ""
			if len(g.members) > 0 {
				g.leader = g.members[0].id
			}
		}
		return m
	}
	return nil
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if !m.joined {
			return false
		}
	}
	return true
}

// supports is Kafka's supportsProtocols: an empty group takes any non-empty
// type and list; otherwise the type must match and one of the protocols must
// be supported by every current member.
func (g *group) supports(ptype string, ps []protocol) bool {
	if len(g.members) == 0 {
		return ptype != "" && len(ps) > 0
	}
	if ptype != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(ps []protocol, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// selectProtocol is Kafka's vote: among the protocols every member supports,
// each member votes for its most preferred one and the most votes win. Ties
// go to the leader's preference, so the choice is deterministic.
func (g *group) selectProtocol() string {
	if len(g.members) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range g.members[0].protocols {
		all := true
		for _, m := range g.members[1:] {
			if !hasProtocol(m.protocols, p.name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if containsString(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	var order []protocol
	if l := g.get(g.leader); l != nil {
		order = l.protocols
	} else {
		order = g.members[0].protocols
	}
	best, bestVotes := "", -1
	for _, p := range order {
		if n, ok := votes[p.name]; ok && n > bestVotes {
			best, bestVotes = p.name, n
		}
	}
	return best
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// computeSubscribed parses consumer subscriptions for offset expiry and
// OffsetDelete; nil when the protocol is not "consumer" or unparsable.
func (g *group) computeSubscribed() {
	g.subscribed = nil
	if g.protocolType != "consumer" || g.protocol == "" {
		return
	}
	subs := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return
		}
		for _, t := range md.Topics {
			subs[t] = true
		}
	}
	g.subscribed = subs
}

func (g *group) subscribedTo(topic string) bool {
	return g.subscribed == nil || g.subscribed[topic]
}

func strPtr(s string) *string { return &s }

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// metadataRecord is the GroupMetadataValue Kafka's storeGroup writes.
func (g *group) metadataRecord(assignment map[string][]byte) KV {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = optStr(g.protocol)
	v.Leader = optStr(g.leader)
	v.CurrentStateTimestamp = g.stateTime
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadata(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = assignment[m.id]
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return KV{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

func (g *group) currentAssignment() map[string][]byte {
	a := make(map[string][]byte, len(g.members))
	for _, m := range g.members {
		a[m.id] = m.assignment
	}
	return a
}

// loadMetadata restores a group from its latest GroupMetadataValue: Stable
// with its members (whose sessions restart now) or Empty.
func (g *group) loadMetadata(v *kmsg.GroupMetadataValue, now time.Time) {
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	g.protocol = ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	g.leader = ""
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.members = nil
	g.static = map[string]string{}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:       vm.Assignment,
			deadline:         now.Add(time.Duration(vm.SessionTimeoutMillis) * time.Millisecond),
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.members = append(g.members, m)
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if len(g.members) == 0 {
		g.state = stateEmpty
	} else {
		g.state = stateStable
	}
	g.stateTime = v.CurrentStateTimestamp
	if g.stateTime < 0 {
		g.stateTime = now.UnixMilli()
	}
	g.computeSubscribed()
}
