package herder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	protocolType = "connect"
	// The protocols a worker offers, preferred first: incremental
	// cooperative, and the eager one of earlier Sluice versions, so a
	// cluster can be upgraded one worker at a time (the group uses the
	// first protocol every member offers).
	protocolCooperative = "sluice-cooperative-v1"
	protocolEager       = "sluice-eager-v0"
	sessionTimeout      = 10 * time.Second
	rebalanceTimeout    = 10 * time.Second
)

// memberMeta is what a worker tells the group about itself (JSON, not
// Kafka Connect's binary ConnectProtocol: Sluice workers do not join groups
// of Java workers). Owned lists the connectors and tasks it runs, for the
// cooperative leader.
type memberMeta struct {
	URL      string   `json:"url"`
	WorkerID string   `json:"worker_id"`
	Owned    []string `json:"owned,omitempty"`
}

// member takes part in the Connect group until ctx ends.
func (h *Herder) member(ctx context.Context) error {
	var memberID string
	defer func() {
		h.shutdown()
		if memberID != "" {
			lctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = h.cfg.GroupID
			req.MemberID = memberID
			req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
			_, _ = req.RequestWith(lctx, h.cl)
		}
	}()
	for ctx.Err() == nil {
		err := h.round(ctx, &memberID)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("connect: group round", "group", h.cfg.GroupID, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// round is one generation: join, sync, apply the assignment, heartbeat
// until a rebalance. With the cooperative protocol the worker keeps running
// what it owns through the rebalance; with the eager one it stops
// everything first.
func (h *Herder) round(ctx context.Context, memberID *string) error {
	if *memberID == "" {
		// A new membership owns nothing: what ran under a lost one may
		// already run elsewhere.
		h.stopAll()
	}
	h.mu.Lock()
	var owned []string
	if a := h.assigned; a != nil && *memberID != "" {
		owned = append(append(owned, a.Connectors...), a.Tasks...)
	}
	h.mu.Unlock()
	meta, _ := json.Marshal(memberMeta{URL: h.cfg.URL, WorkerID: h.cfg.WorkerID, Owned: owned})
	eagerMeta, _ := json.Marshal(memberMeta{URL: h.cfg.URL, WorkerID: h.cfg.WorkerID})
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = h.cfg.GroupID
	join.SessionTimeoutMillis = int32(sessionTimeout / time.Millisecond)
	join.RebalanceTimeoutMillis = int32(rebalanceTimeout / time.Millisecond)
	join.ProtocolType = protocolType
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: protocolCooperative, Metadata: meta}, {Name: protocolEager, Metadata: eagerMeta}}
	join.MemberID = *memberID
	var jr *kmsg.JoinGroupResponse
	for {
		resp, err := join.RequestWith(ctx, h.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.MemberIDRequired) {
				join.MemberID = resp.MemberID
				continue
			}
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				*memberID = ""
				h.stopAll()
			}
			return fmt.Errorf("join group: %w", err)
		}
		jr = resp
		break
	}
	*memberID = jr.MemberID
	leader := jr.LeaderID == jr.MemberID
	proto := protocolEager
	if jr.Protocol != nil {
		proto = *jr.Protocol
	}
	cooperative := proto == protocolCooperative
	if !cooperative {
		h.stopAll() // eager: nothing runs across a rebalance
	}
	h.mu.Lock()
	h.generation = jr.Generation
	h.isLeader = leader
	h.mu.Unlock()

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = h.cfg.GroupID
	sync.Generation = jr.Generation
	sync.MemberID = jr.MemberID
	pt, pn := protocolType, proto
	sync.ProtocolType, sync.Protocol = &pt, &pn
	if leader {
		ga, err := h.leaderAssign(ctx, jr, cooperative)
		if err != nil {
			return err
		}
		sync.GroupAssignment = ga
	}
	sr, err := sync.RequestWith(ctx, h.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(sr.ErrorCode); err != nil {
		if errors.Is(err, kerr.RebalanceInProgress) {
			return nil
		}
		return fmt.Errorf("sync group: %w", err)
	}
	var a Assignment
	if err := json.Unmarshal(sr.MemberAssignment, &a); err != nil {
		return fmt.Errorf("sync group: assignment %q: %w", sr.MemberAssignment, err)
	}
	// Start nothing before this worker has read the configs the leader
	// assigned from.
	if err := h.waitConfig(ctx, a.ConfigOffset); err != nil {
		return nil
	}
	h.mu.Lock()
	h.assigned = &a
	h.ready = true
	h.mu.Unlock()
	h.log.Info("connect: assignment", "generation", jr.Generation, "protocol", proto, "leader", leader, "connectors", a.Connectors, "tasks", a.Tasks, "revoked", a.Revoked)
	h.apply(ctx, &a)
	if len(a.Revoked) > 0 {
		// Revoked items are stopped: rejoin so the next generation can
		// give them to someone else.
		return nil
	}

	t := time.NewTicker(h.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.rebalanceCh:
			if leader {
				return nil // rejoining starts a new generation for everyone
			}
		case <-t.C:
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = h.cfg.GroupID, jr.Generation, jr.MemberID
		resp, err := hb.RequestWith(ctx, h.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.RebalanceInProgress) {
				return nil
			}
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				*memberID = ""
				h.stopAll()
			}
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// leaderAssign reads the config topic to its end, then assigns.
func (h *Herder) leaderAssign(ctx context.Context, jr *kmsg.JoinGroupResponse, cooperative bool) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	// Drop rebalance requests queued so far: this assignment covers every
	// config up to the end offset taken next. A record read after the drain
	// queues a new request, so nothing written meanwhile is missed.
	select {
	case <-h.rebalanceCh:
	default:
	}
	end, err := h.configEnd(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.waitConfig(ctx, end); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(jr.Members))
	urls := map[string]string{}
	var members []member
	for _, m := range jr.Members {
		ids = append(ids, m.MemberID)
		var mm memberMeta
		_ = json.Unmarshal(m.ProtocolMetadata, &mm)
		urls[m.MemberID] = mm.URL
		own := map[string]bool{}
		for _, x := range mm.Owned {
			own[x] = true
		}
		members = append(members, member{id: m.MemberID, owned: own})
	}
	h.mu.Lock()
	var as map[string]*Assignment
	if cooperative {
		as = assignCooperative(h.state, members)
	} else {
		as = assign(h.state, ids)
	}
	h.mu.Unlock()
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(as))
	for id, a := range as {
		a.Leader, a.LeaderURL, a.ConfigOffset = jr.MemberID, urls[jr.MemberID], end
		b, _ := json.Marshal(a)
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: b})
	}
	return out, nil
}
