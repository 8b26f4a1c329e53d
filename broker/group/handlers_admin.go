package group

import (
	"context"
	"math"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupType is what ListGroups v5+ reports for groups of this coordinator.
const GroupType = "classic"

// ListGroups handles ListGroups v0-v5 with the states (v4+) and types (v5+)
// filters, matched case-insensitively.
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if !c.Ready() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	if req.Version >= 5 && !match(req.TypesFilter, GroupType) {
		return resp
	}
	for _, g := range c.snapshot() {
		g.mu.Lock()
		st, pt := g.state, g.protocolType
		g.mu.Unlock()
		if st == stateDead || (req.Version >= 4 && !match(req.StatesFilter, st.String())) {
			continue
		}
		resp.Groups = append(resp.Groups, kmsg.ListGroupsResponseGroup{
			Group: g.id, ProtocolType: pt, GroupState: st.String(), GroupType: GroupType,
		})
	}
	return resp
}

// DescribeGroups handles DescribeGroups v0-v6. Member metadata and
// assignments are shown only while Stable, as Kafka does. An unknown group is
// Dead (GROUP_ID_NOT_FOUND from v6).
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.DescribeGroupsResponseGroup{Group: id, State: stateDead.String(), AuthorizedOperations: math.MinInt32}
		if !c.Ready() {
			dg.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := c.lockGroup(id, false)
		if g == nil {
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				dg.ErrorMessage = strPtr("Group " + id + " not found.")
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		stable := g.state == stateStable
		if stable {
			dg.Protocol = g.protocol
		}
		for _, m := range g.members {
			dm := kmsg.DescribeGroupsResponseGroupMember{
				MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
				ProtocolMetadata: []byte{}, MemberAssignment: []byte{},
			}
			if stable {
				if md := m.metadata(g.protocol); md != nil {
					dm.ProtocolMetadata = md
				}
				if m.assignment != nil {
					dm.MemberAssignment = m.assignment
				}
			}
			dg.Members = append(dg.Members, dm)
		}
		g.mu.Unlock()
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// DeleteGroups handles DeleteGroups v0-v3: only Empty groups can go; their
// offsets and metadata get tombstones.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, kmsg.DeleteGroupsResponseGroup{Group: id, ErrorCode: c.deleteGroup(ctx, id)})
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	if !c.Ready() {
		return kerr.CoordinatorLoadInProgress.Code
	}
	g := c.lockGroup(id, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer c.unlock(g)
	if g.state != stateEmpty {
		return kerr.NonEmptyGroup.Code
	}
	var recs []KV
	for _, t := range g.allOffsets() {
		recs = append(recs, tombstone(g.id, t))
	}
	if g.generation > 0 {
		recs = append(recs, KV{Key: groupKey(g.id)})
	}
	if len(recs) > 0 {
		if err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), recs); err != nil {
			c.log.Warn("deleting group", "group", g.id, "err", err)
			return storeCode(err, false)
		}
	}
	clear(g.offsets)
	clear(g.pending)
	g.transition(stateDead, c.now())
	return 0
}
