package cli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() {
	register(func() *cobra.Command {
		var cf clientFlags
		cmd := &cobra.Command{
			Use:   "group",
			Short: "List, describe, reset offsets of and delete consumer groups on any Kafka cluster",
		}
		cf.add(cmd, true)
		cmd.AddCommand(groupListCmd(&cf), groupDescribeCmd(&cf), groupResetCmd(&cf), groupDeleteCmd(&cf))
		return cmd
	})
}

type groupRow struct {
	Name         string `json:"name" yaml:"name"`
	State        string `json:"state" yaml:"state"`
	ProtocolType string `json:"protocol_type" yaml:"protocol_type"`
	Coordinator  int32  `json:"coordinator" yaml:"coordinator"`
}

func groupListCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			gs, err := adm.ListGroups(ctx)
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			rows := []groupRow{}
			t := &table{header: []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}}
			for _, g := range gs.Sorted() {
				r := groupRow{Name: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator}
				rows = append(rows, r)
				t.add(r.Name, orDash(r.State), orDash(r.ProtocolType), strconv.Itoa(int(r.Coordinator)))
			}
			return render(cmd.OutOrStdout(), cf.output, rows, t)
		},
	}
}

// groupDescription is the output of group describe.
type groupDescription struct {
	Name         string        `json:"name" yaml:"name"`
	State        string        `json:"state" yaml:"state"`
	ProtocolType string        `json:"protocol_type" yaml:"protocol_type"`
	Protocol     string        `json:"protocol" yaml:"protocol"`
	Coordinator  int32         `json:"coordinator" yaml:"coordinator"`
	Members      []groupMember `json:"members" yaml:"members"`
	Offsets      []groupOffset `json:"offsets" yaml:"offsets"`
	TotalLag     int64         `json:"total_lag" yaml:"total_lag"`
}

type groupMember struct {
	MemberID   string            `json:"member_id" yaml:"member_id"`
	InstanceID string            `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
	ClientID   string            `json:"client_id" yaml:"client_id"`
	Host       string            `json:"host" yaml:"host"`
	Assignment []topicPartitions `json:"assignment" yaml:"assignment"`
}

type topicPartitions struct {
	Topic      string  `json:"topic" yaml:"topic"`
	Partitions []int32 `json:"partitions" yaml:"partitions"`
}

// groupOffset is one partition's committed offset and lag; Committed is -1
// where the group has not committed, and Lag -1 where it cannot be known.
type groupOffset struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Committed int64  `json:"committed" yaml:"committed"`
	LogEnd    int64  `json:"log_end" yaml:"log_end"`
	Lag       int64  `json:"lag" yaml:"lag"`
	MemberID  string `json:"member_id,omitempty" yaml:"member_id,omitempty"`
	Error     string `json:"error,omitempty" yaml:"error,omitempty"`
}

func groupDescribeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's state, members and, per partition, committed offset, log end offset and lag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			lags, err := adm.Lag(ctx, name)
			if err != nil {
				return fmt.Errorf("describe group %q: %w", name, err)
			}
			l, ok := lags[name]
			if !ok {
				return fmt.Errorf("describe group %q: %w", name, kerr.GroupIDNotFound)
			}
			if err := l.Error(); err != nil {
				return fmt.Errorf("describe group %q: %w", name, err)
			}
			if l.State == "Dead" {
				return fmt.Errorf("group %q does not exist: %w", name, kerr.GroupIDNotFound)
			}
			out := describeGroup(l)
			return render(cmd.OutOrStdout(), cf.output, out, groupTables(out)...)
		},
	}
}

func describeGroup(l kadm.DescribedGroupLag) groupDescription {
	out := groupDescription{Name: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Offsets: []groupOffset{}}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []topicPartitions{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assignment = append(gm.Assignment, topicPartitions{Topic: t.Topic, Partitions: ps})
			}
			sort.Slice(gm.Assignment, func(i, j int) bool { return gm.Assignment[i].Topic < gm.Assignment[j].Topic })
		}
		out.Members = append(out.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		o := groupOffset{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, LogEnd: ml.End.Offset, Lag: ml.Lag}
		if ml.End.Err != nil {
			o.LogEnd = -1
		}
		if ml.Member != nil {
			o.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			o.Error = ml.Err.Error()
		}
		if o.Lag > 0 {
			out.TotalLag += o.Lag
		}
		out.Offsets = append(out.Offsets, o)
	}
	return out
}

func groupTables(g groupDescription) []*table {
	head := &table{}
	head.add("Group:", g.Name)
	head.add("State:", orDash(g.State))
	head.add("Protocol:", orDash(strings.Trim(g.ProtocolType+"/"+g.Protocol, "/")))
	head.add("Coordinator:", strconv.Itoa(int(g.Coordinator)))
	head.add("Members:", strconv.Itoa(len(g.Members)))
	head.add("Total lag:", strconv.FormatInt(g.TotalLag, 10))
	tables := []*table{head}
	if len(g.Members) > 0 {
		mt := &table{header: []string{"MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"}}
		for _, m := range g.Members {
			var as []string
			for _, a := range m.Assignment {
				as = append(as, a.Topic+"["+joinInt32s(a.Partitions)+"]")
			}
			mt.add(m.MemberID, m.ClientID, m.Host, orDash(strings.Join(as, " ")))
		}
		tables = append(tables, mt)
	}
	if len(g.Offsets) > 0 {
		ot := &table{header: []string{"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID"}}
		for _, o := range g.Offsets {
			ot.add(o.Topic, strconv.Itoa(int(o.Partition)), offsetCell(o.Committed), offsetCell(o.LogEnd),
				offsetCell(o.Lag), orDash(o.MemberID))
		}
		tables = append(tables, ot)
	}
	return tables
}

// offsetCell shows an unknown (-1) offset or lag as "-".
func offsetCell(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// offsetReset is one partition's move in group reset-offsets.
type offsetReset struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Current   int64  `json:"current" yaml:"current"`
	New       int64  `json:"new" yaml:"new"`
}

type resetResult struct {
	Group   string        `json:"group" yaml:"group"`
	DryRun  bool          `json:"dry_run" yaml:"dry_run"`
	Offsets []offsetReset `json:"offsets" yaml:"offsets"`
}

func groupResetCmd(cf *clientFlags) *cobra.Command {
	var (
		topics     []string
		toEarliest bool
		toLatest   bool
		toOffset   int64
		toTime     string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic T (--to-earliest|--to-latest|--to-offset N|--to-timestamp T)",
		Short: "Move an inactive group's committed offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if len(topics) == 0 {
				return errors.New("give at least one --topic")
			}
			modes := 0
			for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-timestamp"} {
				if cmd.Flags().Changed(f) {
					modes++
				}
			}
			if modes != 1 {
				return errors.New("give exactly one of --to-earliest, --to-latest, --to-offset and --to-timestamp")
			}
			var ms int64
			if toTime != "" {
				var err error
				if ms, err = parseTimestamp(toTime); err != nil {
					return err
				}
			}
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()

			// Like Kafka, refuse while consumers are active: they would
			// overwrite the new offsets with their next commit.
			ds, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return fmt.Errorf("describe group %q: %w", group, err)
			}
			if d, ok := ds[group]; ok {
				if d.Err != nil {
					return fmt.Errorf("describe group %q: %w", group, withMessage(d.Err, d.ErrMessage))
				}
				if len(d.Members) > 0 {
					return fmt.Errorf("group %q has %d active member(s) (state %s); offsets can only be reset while it is inactive: %w",
						group, len(d.Members), d.State, kerr.NonEmptyGroup)
				}
			}

			starts, err := adm.ListStartOffsets(ctx, topics...)
			if err == nil {
				err = starts.Error()
			}
			if err != nil {
				return fmt.Errorf("list start offsets: %w", err)
			}
			ends, err := adm.ListEndOffsets(ctx, topics...)
			if err == nil {
				err = ends.Error()
			}
			if err != nil {
				return fmt.Errorf("list end offsets: %w", err)
			}
			var target kadm.ListedOffsets
			switch {
			case toEarliest:
				target = starts
			case toLatest:
				target = ends
			case toTime != "":
				if target, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...); err == nil {
					err = target.Error()
				}
				if err != nil {
					return fmt.Errorf("list offsets after %s: %w", toTime, err)
				}
			}
			committed, err := adm.FetchOffsetsForTopics(ctx, group, topics...)
			if err != nil {
				return fmt.Errorf("fetch offsets of group %q: %w", group, err)
			}

			res := resetResult{Group: group, DryRun: dryRun, Offsets: []offsetReset{}}
			commit := make(kadm.Offsets)
			for _, t := range topics {
				ps := make([]int32, 0, len(starts[t]))
				for p := range starts[t] {
					ps = append(ps, p)
				}
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				for _, p := range ps {
					lo, hi := starts[t][p].Offset, ends[t][p].Offset
					n := toOffset
					if target != nil {
						n = target[t][p].Offset
						if n < 0 {
							n = hi
						}
					}
					// As Kafka does, keep the new offset inside the log.
					n = min(max(n, lo), hi)
					cur := int64(-1)
					if c, ok := committed.Lookup(t, p); ok && c.Err == nil {
						cur = c.At
					}
					res.Offsets = append(res.Offsets, offsetReset{Topic: t, Partition: p, Current: cur, New: n})
					commit.Add(kadm.Offset{Topic: t, Partition: p, At: n, LeaderEpoch: -1})
				}
			}
			if !dryRun {
				if err := adm.CommitAllOffsets(ctx, group, commit); err != nil {
					return fmt.Errorf("commit offsets of group %q: %w", group, err)
				}
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "dry run: no offsets committed")
			}
			t := &table{header: []string{"TOPIC", "PARTITION", "CURRENT", "NEW"}}
			for _, o := range res.Offsets {
				t.add(o.Topic, strconv.Itoa(int(o.Partition)), offsetCell(o.Current), strconv.FormatInt(o.New, 10))
			}
			return render(cmd.OutOrStdout(), cf.output, res, t)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&topics, "topic", nil, "topic whose offsets to reset, all its partitions (repeatable)")
	f.BoolVar(&toEarliest, "to-earliest", false, "reset to each partition's log start offset")
	f.BoolVar(&toLatest, "to-latest", false, "reset to each partition's log end offset")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset (kept within the log's bounds)")
	f.StringVar(&toTime, "to-timestamp", "", "reset to the first offset at or after this time (RFC 3339 or Unix milliseconds)")
	f.BoolVar(&dryRun, "dry-run", false, "show the new offsets without committing them")
	return cmd
}

func groupDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups (they must have no active members)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			rs, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			results := make([]deleteResult, 0, len(args))
			var first error
			for _, name := range args {
				res := deleteResult{Name: name}
				r, ok := rs[name]
				var err error
				switch {
				case !ok:
					err = kerr.GroupIDNotFound
				case r.Err != nil:
					err = withMessage(r.Err, r.ErrMessage)
				}
				if err != nil {
					res.Error = err.Error()
					if first == nil {
						first = fmt.Errorf("delete group %q: %w", name, err)
					}
				}
				results = append(results, res)
			}
			if err := renderDeletes(cmd, cf.output, "GROUP", results); err != nil {
				return err
			}
			return first
		},
	}
}
