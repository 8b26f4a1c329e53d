package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient attaches the request header's client id and the peer's host to
// ctx; JoinGroup records them for DescribeGroups, as Kafka does.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// JoinGroup handles JoinGroup v0-v9. It blocks until the join phase of the
// rebalance completes or ctx is done (then it answers NOT_COORDINATOR, and
// the member stays in the group until its timeouts remove it, as in Kafka).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	fill := func(r joinResult) *kmsg.JoinGroupResponse {
		resp.ErrorCode = r.err
		resp.MemberID = r.memberID
		resp.Generation = r.generation
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocol
		resp.LeaderID = r.leader
		resp.Members = r.members
		resp.SkipAssignment = r.skipAssign
		return resp
	}
	session := millis(req.SessionTimeoutMillis)
	switch {
	case !c.Ready():
		return fill(joinError(req.MemberID, kerr.CoordinatorLoadInProgress))
	case req.Group == "":
		return fill(joinError(req.MemberID, kerr.InvalidGroupID))
	case session < c.p.minSession || session > c.p.maxSession:
		return fill(joinError(req.MemberID, kerr.InvalidSessionTimeout))
	}
	rebalance := millis(req.RebalanceTimeoutMillis)
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session // v0 had a single timeout for both
	}
	var instanceID *string
	if req.Version >= 5 && req.InstanceID != nil {
		instanceID = req.InstanceID
	}
	ci := clientFrom(ctx)
	prefix := ci.id
	if instanceID != nil {
		prefix = *instanceID
	}
	a := joinArgs{
		memberID:         req.MemberID,
		instanceID:       instanceID,
		clientID:         ci.id,
		clientHost:       ci.host,
		rebalanceTimeout: rebalance,
		sessionTimeout:   session,
		protocolType:     req.ProtocolType,
		requireKnownID:   req.Version >= 4 && instanceID == nil,
		skipAssignOK:     req.Version >= 9,
		newID:            newMemberID(prefix),
	}
	for _, p := range req.Protocols {
		md := append([]byte{}, p.Metadata...) // kept beyond the request's buffer
		a.protocols = append(a.protocols, protocol{name: p.Name, metadata: md})
	}

	g := c.lockGroup(req.Group, req.MemberID == "")
	if g == nil {
		return fill(joinError(req.MemberID, kerr.UnknownMemberID))
	}
	now := c.now()
	res, wait, st := g.join(now, a)
	var ch chan joinResult
	if wait {
		ch = make(chan joinResult, 1)
		if old := g.joinW[res.memberID]; old != nil {
			old <- joinError(res.memberID, kerr.RebalanceInProgress) // superseded by this request
		}
		g.joinW[res.memberID] = ch
	}
	c.apply(ctx, g, st)
	if !wait && res.err != 0 {
		c.appendOrLog(ctx, g, g.maybeDie(now)) // a group created by a failed join
	}
	c.unlock(g)
	if !wait {
		return fill(res)
	}
	select {
	case r := <-ch:
		return fill(r)
	case <-ctx.Done():
		g.mu.Lock()
		if g.joinW[res.memberID] == ch {
			delete(g.joinW, res.memberID)
		}
		g.mu.Unlock()
		select {
		case r := <-ch:
			return fill(r)
		default:
		}
		return fill(joinError(res.memberID, kerr.NotCoordinator))
	}
}

// SyncGroup handles SyncGroup v0-v5. Followers block until the leader's
// assignment is stored, or ctx is done.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fill := func(r syncResult) *kmsg.SyncGroupResponse {
		resp.ErrorCode = r.err
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocol
		resp.MemberAssignment = r.assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		return resp
	}
	switch {
	case !c.Ready():
		return fill(syncError(kerr.CoordinatorLoadInProgress))
	case req.Group == "":
		return fill(syncError(kerr.InvalidGroupID))
	case req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil):
		return fill(syncError(kerr.InconsistentGroupProtocol))
	}
	a := syncArgs{
		memberID:     req.MemberID,
		generation:   req.Generation,
		protocolType: req.ProtocolType,
		protocol:     req.Protocol,
		assignments:  make(map[string][]byte, len(req.GroupAssignment)),
	}
	if req.Version >= 3 {
		a.instanceID = req.InstanceID
	}
	for _, ga := range req.GroupAssignment {
		a.assignments[ga.MemberID] = append([]byte{}, ga.MemberAssignment...)
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return fill(syncError(kerr.UnknownMemberID))
	}
	res, wait, st := g.sync(c.now(), a)
	var ch chan syncResult
	if wait {
		ch = make(chan syncResult, 1)
		if old := g.syncW[req.MemberID]; old != nil {
			old <- syncError(kerr.RebalanceInProgress)
		}
		g.syncW[req.MemberID] = ch
	}
	c.apply(ctx, g, st)
	c.unlock(g)
	if !wait {
		return fill(res)
	}
	select {
	case r := <-ch:
		return fill(r)
	case <-ctx.Done():
		g.mu.Lock()
		if g.syncW[req.MemberID] == ch {
			delete(g.syncW, req.MemberID)
		}
		g.mu.Unlock()
		select {
		case r := <-ch:
			return fill(r)
		default:
		}
		return fill(syncError(kerr.NotCoordinator))
	}
}

// Heartbeat handles Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	switch {
	case !c.Ready():
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	resp.ErrorCode = g.heartbeat(c.now(), req.MemberID, instanceID, req.Generation)
	c.flush(ctx, g)
	c.unlock(g)
	return resp
}

// LeaveGroup handles LeaveGroup v0-v5; v3+ removes a batch of members,
// identified by member id or (administratively) by instance id alone.
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	switch {
	case !c.Ready():
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(leaving))
	if g := c.lockGroup(req.Group, false); g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
	} else {
		now := c.now()
		for i, l := range leaving {
			codes[i] = g.leave(now, l.MemberID, l.InstanceID)
		}
		c.flush(ctx, g)
		c.unlock(g)
	}
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, l := range leaving {
		resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{MemberID: l.MemberID, InstanceID: l.InstanceID, ErrorCode: codes[i]})
	}
	return resp
}
