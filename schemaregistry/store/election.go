package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Identity is a registry instance as it presents itself in the group, in
// the JSON of Confluent's "sr" protocol.
type Identity struct {
	Version          int    `json:"version"`
	Host             string `json:"host"`
	Port             int    `json:"port"`
	Scheme           string `json:"scheme"`
	LeaderEligibilty bool   `json:"master_eligibility"`
}

// URL is the instance's base URL.
func (id Identity) URL() string {
	return id.Scheme + "://" + id.Host + ":" + strconv.Itoa(id.Port)
}

// IdentityFromURL builds an eligible identity from a base URL.
func IdentityFromURL(u string) (Identity, error) {
	p, err := url.Parse(u)
	if err != nil {
		return Identity{}, err
	}
	port, err := strconv.Atoi(p.Port())
	if err != nil {
		return Identity{}, fmt.Errorf("advertised URL %q has no port", u)
	}
	return Identity{Version: 1, Host: p.Hostname(), Port: port, Scheme: p.Scheme, LeaderEligibilty: true}, nil
}

// assignment is what the group leader hands every member: who leads.
type assignment struct {
	Version        int       `json:"version"`
	Error          int       `json:"error"`
	Leader         string    `json:"master,omitempty"`
	LeaderIdentity *Identity `json:"master_identity,omitempty"`
}

// Elector elects one registry leader among the instances in a Kafka group of
// protocol type "sr", as Confluent's registry does: every instance joins,
// the group's leader picks the eligible member with the lowest URL, and all
// learn the choice from SyncGroup. A rebalance (an instance joining,
// leaving or dying) re-elects.
type Elector struct {
	cl       *kgo.Client
	group    string
	self     Identity
	log      *slog.Logger
	onChange func(leader bool)

	mu       sync.Mutex
	leader   *Identity
	isLeader bool
	memberID string
	gen      int32
}

// NewElector prepares an election in group over cl. onChange is called
// (from Run's goroutine) whenever this instance gains or loses leadership.
func NewElector(cl *kgo.Client, group string, self Identity, log *slog.Logger, onChange func(leader bool)) *Elector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{cl: cl, group: group, self: self, log: log, onChange: onChange}
}

// Leader returns the current leader's URL and whether it is this instance;
// url is "" while no leader is known.
func (e *Elector) Leader() (self bool, leaderURL string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == nil {
		return false, ""
	}
	return e.isLeader, e.leader.URL()
}

const (
	sessionTimeout   = 10 * time.Second
	rebalanceTimeout = 10 * time.Second
	heartbeatEvery   = time.Second
)

// Run takes part in the group until ctx ends, then leaves it.
func (e *Elector) Run(ctx context.Context) error {
	defer e.leave()
	for ctx.Err() == nil {
		if err := e.round(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("schema registry: leader election", "group", e.group, "err", err)
			e.set(nil, false)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (e *Elector) set(leader *Identity, self bool) {
	e.mu.Lock()
	was := e.isLeader
	e.leader, e.isLeader = leader, self
	e.mu.Unlock()
	if was != self && e.onChange != nil {
		e.onChange(self)
	}
}

// round joins, syncs and heartbeats until a rebalance or an error.
func (e *Elector) round(ctx context.Context) error {
	meta, _ := json.Marshal(e.self)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = e.group
	join.SessionTimeoutMillis = int32(sessionTimeout / time.Millisecond)
	join.RebalanceTimeoutMillis = int32(rebalanceTimeout / time.Millisecond)
	join.ProtocolType = "sr"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "v0", Metadata: meta}}
	e.mu.Lock()
	join.MemberID = e.memberID
	e.mu.Unlock()
	var jr *kmsg.JoinGroupResponse
	for {
		resp, err := join.RequestWith(ctx, e.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.MemberIDRequired) {
				join.MemberID = resp.MemberID
				continue
			}
			if errors.Is(err, kerr.UnknownMemberID) {
				join.MemberID = ""
				e.mu.Lock()
				e.memberID = ""
				e.mu.Unlock()
			}
			return fmt.Errorf("join group: %w", err)
		}
		jr = resp
		break
	}
	e.mu.Lock()
	e.memberID, e.gen = jr.MemberID, jr.Generation
	e.mu.Unlock()

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = e.group
	sync.Generation = jr.Generation
	sync.MemberID = jr.MemberID
	pt, pn := "sr", "v0"
	sync.ProtocolType, sync.Protocol = &pt, &pn
	if jr.LeaderID == jr.MemberID {
		sync.GroupAssignment = assign(jr.Members)
	}
	sr, err := sync.RequestWith(ctx, e.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(sr.ErrorCode); err != nil {
		if errors.Is(err, kerr.RebalanceInProgress) {
			return nil
		}
		return fmt.Errorf("sync group: %w", err)
	}
	var a assignment
	if err := json.Unmarshal(sr.MemberAssignment, &a); err != nil {
		return fmt.Errorf("sync group: assignment %q: %w", sr.MemberAssignment, err)
	}
	if a.LeaderIdentity == nil {
		e.set(nil, false)
		e.log.Warn("schema registry: no leader-eligible instance in the group", "group", e.group)
	} else {
		self := a.Leader == jr.MemberID
		e.set(a.LeaderIdentity, self)
		e.log.Info("schema registry: leader elected", "leader", a.LeaderIdentity.URL(), "self", self, "generation", jr.Generation)
	}

	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = e.group, jr.Generation, jr.MemberID
		resp, err := hb.RequestWith(ctx, e.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.RebalanceInProgress) {
				return nil // rejoin; keep the leader until the new choice
			}
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// assign picks the leader: the eligible member with the lowest URL, so the
// choice is stable across rounds.
func assign(members []kmsg.JoinGroupResponseMember) []kmsg.SyncGroupRequestGroupAssignment {
	type cand struct {
		id  string
		idt Identity
	}
	var eligible []cand
	for _, m := range members {
		var idt Identity
		if json.Unmarshal(m.ProtocolMetadata, &idt) == nil && idt.LeaderEligibilty {
			eligible = append(eligible, cand{m.MemberID, idt})
		}
	}
	sort.Slice(eligible, func(i, j int) bool {
		if eligible[i].idt.URL() != eligible[j].idt.URL() {
			return eligible[i].idt.URL() < eligible[j].idt.URL()
		}
		return eligible[i].id < eligible[j].id
	})
	a := assignment{Version: 1}
	if len(eligible) > 0 {
		a.Leader = eligible[0].id
		a.LeaderIdentity = &eligible[0].idt
	} else {
		a.Error = 1 // Confluent's "no eligible leader"
	}
	b, _ := json.Marshal(a)
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(members))
	for _, m := range members {
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: b})
	}
	return out
}

func (e *Elector) leave() {
	e.mu.Lock()
	id := e.memberID
	e.mu.Unlock()
	e.set(nil, false)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = e.group
	req.MemberID = id
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id}}
	_, _ = req.RequestWith(ctx, e.cl)
}
