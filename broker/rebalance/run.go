package rebalance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options tune Run.
type Options struct {
	// Topics limits the rebalance to these topics (nil: every topic).
	Topics []string
	// Throttle is the replication throttle in bytes/s for the moves
	// (leader.replication.throttled.rate and
	// follower.replication.throttled.rate, set cluster-wide for the
	// duration); 0: unthrottled.
	Throttle int64
	// DryRun computes the plan and changes nothing.
	DryRun bool
	// Wait waits until every move completed, then removes the throttle
	// and elects the preferred leaders of the moved partitions. Without
	// it Run returns once the moves started and the throttle stays until
	// the next Run with Wait (or until removed by hand), as with
	// kafka-reassign-partitions --execute and --verify.
	Wait bool
	// Poll is how often Wait checks the moves (default 1 s).
	Poll time.Duration
	// Progress, if set, is called while waiting with the moves still in
	// progress.
	Progress func(pending int)
}

// Result is what Run planned and did.
type Result struct {
	Moves   []Move   `json:"moves"`
	Brokers []Broker `json:"brokers"`
	// Before and After are the loads per broker now and once the moves
	// complete.
	Before map[int32]Load `json:"before"`
	After  map[int32]Load `json:"after"`
	// Throttle is the throttle set (bytes/s), 0 for none.
	Throttle int64 `json:"throttle_bytes_per_second,omitempty"`
	// Completed: every move is done (with Wait, or nothing to move).
	Completed bool `json:"completed"`
	// Elected counts the preferred leaders elected after the moves.
	Elected int `json:"preferred_leaders_elected"`
	// Errors are the partitions AlterPartitionReassignments refused.
	Errors map[string]error `json:"-"`
}

// ErrInProgress is returned when the cluster is already reassigning
// partitions: one rebalance at a time, as kafka-reassign-partitions.
var ErrInProgress = errors.New("a partition reassignment is in progress; wait for it or cancel it first")

// Run plans an even, rack-aware assignment of the cluster cl reaches and,
// unless opts.DryRun, applies it: throttle, AlterPartitionReassignments,
// and with opts.Wait the wait for completion, the throttle's removal and a
// preferred leader election of the moved partitions.
func Run(ctx context.Context, cl *kgo.Client, opts Options) (Result, error) {
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, opts.Topics...)
	if err != nil {
		return Result{}, fmt.Errorf("reading the cluster metadata: %w", err)
	}
	var brokers []Broker
	for _, b := range md.Brokers {
		br := Broker{ID: b.NodeID}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		brokers = append(brokers, br)
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
	var parts []Partition
	set := kadm.TopicsSet{}
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			return Result{}, fmt.Errorf("topic %s: %w", t.Topic, t.Err)
		}
		for _, p := range t.Partitions.Sorted() {
			parts = append(parts, Partition{Topic: t.Topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
			set.Add(t.Topic, p.Partition)
		}
	}
	if len(parts) > 0 {
		pending, err := adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			return Result{}, fmt.Errorf("listing reassignments: %w", err)
		}
		if n := count(pending); n > 0 {
			return Result{}, fmt.Errorf("%w (%d partitions)", ErrInProgress, n)
		}
	}
	moves := Plan(brokers, parts)
	after := applyMoves(parts, moves)
	res := Result{Moves: moves, Brokers: brokers, Before: Loads(brokers, parts), After: Loads(brokers, after)}
	if opts.DryRun || len(moves) == 0 {
		res.Completed = len(moves) == 0
		return res, nil
	}
	if opts.Throttle > 0 {
		res.Throttle = opts.Throttle
		if err := setThrottle(ctx, cl, md.Controller, opts.Throttle); err != nil {
			return res, fmt.Errorf("setting the replication throttle: %w", err)
		}
	}
	var req kadm.AlterPartitionAssignmentsReq
	for _, m := range moves {
		req.Assign(m.Topic, m.Partition, m.To)
	}
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return res, fmt.Errorf("starting the reassignment: %w", err)
	}
	res.Errors = map[string]error{}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			res.Errors[r.Topic+"-"+strconv.Itoa(int(r.Partition))] = r.Err
		}
	}
	if err := resps.Error(); err != nil {
		return res, fmt.Errorf("starting the reassignment: %d partitions refused, first: %w", len(res.Errors), err)
	}
	if !opts.Wait {
		return res, nil
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = time.Second
	}
	moved := kadm.TopicsSet{}
	for _, m := range moves {
		moved.Add(m.Topic, m.Partition)
	}
	for {
		pending, err := adm.ListPartitionReassignments(ctx, moved)
		if err == nil {
			n := count(pending)
			if opts.Progress != nil {
				opts.Progress(n)
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("waiting for the reassignment: %w", ctx.Err())
		case <-time.After(poll):
		}
	}
	res.Completed = true
	if opts.Throttle > 0 {
		if err := setThrottle(ctx, cl, -1, 0); err != nil {
			return res, fmt.Errorf("removing the replication throttle: %w", err)
		}
	}
	elected, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, moved)
	if err != nil {
		return res, fmt.Errorf("electing preferred leaders: %w", err)
	}
	for _, ps := range elected {
		for _, r := range ps {
			if r.Err == nil {
				res.Elected++
			}
		}
	}
	return res, nil
}

func count(rs kadm.ListPartitionReassignmentsResponses) int {
	n := 0
	rs.Each(func(r kadm.ListPartitionReassignmentsResponse) {
		if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
			n++
		}
	})
	return n
}

func applyMoves(parts []Partition, moves []Move) []Partition {
	to := map[string][]int32{}
	for _, m := range moves {
		to[m.Topic+"\x00"+strconv.Itoa(int(m.Partition))] = m.To
	}
	out := make([]Partition, len(parts))
	for i, p := range parts {
		out[i] = p
		if r, ok := to[p.Topic+"\x00"+strconv.Itoa(int(p.Partition))]; ok {
			out[i].Replicas = r
		}
	}
	return out
}

// throttleConfigs are the broker configs the throttle sets.
var throttleConfigs = []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"}

// setThrottle sets (rate > 0) or removes the cluster-wide replication
// throttle with IncrementalAlterConfigs on the default broker resource,
// sent to the controller (Sluice commits dynamic configs there).
func setThrottle(ctx context.Context, cl *kgo.Client, controller int32, rate int64) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	for _, name := range throttleConfigs {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = name
		if rate > 0 {
			v := strconv.FormatInt(rate, 10)
			c.Op, c.Value = kmsg.IncrementalAlterConfigOpSet, &v
		} else {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	for attempt := 0; ; attempt++ {
		if controller < 0 {
			md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			if err != nil {
				return err
			}
			controller = md.Controller
		}
		resp, err := req.RequestWith(ctx, cl.Broker(int(controller)))
		if err == nil {
			for _, r := range resp.Resources {
				err = errors.Join(err, kerr.ErrorForCode(r.ErrorCode))
			}
		}
		if err == nil || !errors.Is(err, kerr.NotController) || attempt >= 10 {
			return err
		}
		controller = -1 // it moved: ask again
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
