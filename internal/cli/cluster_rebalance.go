package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/broker/rebalance"
)

// rebalanceReport is what `sluice cluster rebalance` prints.
type rebalanceReport struct {
	DryRun    bool              `json:"dry_run" yaml:"dry_run"`
	Moves     []rebalanceMove   `json:"moves" yaml:"moves"`
	Brokers   []rebalanceBroker `json:"brokers" yaml:"brokers"`
	Throttle  int64             `json:"throttle_bytes_per_second" yaml:"throttle_bytes_per_second"`
	Completed bool              `json:"completed" yaml:"completed"`
	Elected   int               `json:"preferred_leaders_elected" yaml:"preferred_leaders_elected"`
	Errors    map[string]string `json:"errors,omitempty" yaml:"errors,omitempty"`
}

type rebalanceMove struct {
	Topic     string  `json:"topic" yaml:"topic"`
	Partition int32   `json:"partition" yaml:"partition"`
	From      []int32 `json:"from" yaml:"from"`
	To        []int32 `json:"to" yaml:"to"`
}

type rebalanceBroker struct {
	ID             int32  `json:"id" yaml:"id"`
	Zone           string `json:"zone" yaml:"zone"`
	ReplicasBefore int    `json:"replicas_before" yaml:"replicas_before"`
	ReplicasAfter  int    `json:"replicas_after" yaml:"replicas_after"`
	LeadersBefore  int    `json:"leaders_before" yaml:"leaders_before"`
	LeadersAfter   int    `json:"leaders_after" yaml:"leaders_after"`
}

func clusterRebalanceCmd() *cobra.Command {
	var (
		cf       clientFlags
		dir      string
		topics   []string
		throttle int64
		dryRun   bool
		noWait   bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Move replicas and preferred leaders evenly over the brokers, zone-aware and throttled",
		Long: `Plan an even assignment of partition replicas over the live brokers and apply it with
AlterPartitionReassignments, as kafka-reassign-partitions does. The plan first moves replicas off
brokers that are gone and apart when they share a zone needlessly, then evens out the replica count
per broker with as few moves as it can (never narrowing a partition's spread over zones), then
evens out preferred leaders by reordering replicas (no data copied).

While replicas copy, --throttle caps replication of the moving partitions (bytes/s; 0: none).
By default the command waits until every move completed, removes the throttle and elects the
preferred leaders of the moved partitions; with --no-wait it returns once the moves started (run
it again later to finish: it refuses to start while a reassignment is in progress).
--dry-run prints the plan and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if throttle < 0 {
				return errors.New("--throttle must be 0 (none) or a rate in bytes/s")
			}
			if !cmd.Flags().Changed("bootstrap") {
				if l, err := readLayout(dir); err == nil {
					cf.bootstrap = l.bootstrap()
				} else if cmd.Flags().Changed("data-dir") {
					return err
				}
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			cl, err := cf.connect(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			opts := rebalance.Options{Topics: topics, Throttle: throttle, DryRun: dryRun, Wait: !noWait}
			if !noWait && !dryRun && cf.output != outputJSON && cf.output != outputYAML {
				last := -1
				opts.Progress = func(pending int) {
					if pending != last {
						fmt.Fprintf(cmd.ErrOrStderr(), "waiting for %d partition moves\n", pending)
						last = pending
					}
				}
			}
			res, err := rebalance.Run(ctx, cl, opts)
			if err != nil {
				if errors.Is(err, rebalance.ErrInProgress) {
					return fmt.Errorf("%w: wait for it to finish (sluice cluster status shows it) or cancel it", err)
				}
				return err
			}
			rep := newRebalanceReport(res, dryRun)
			if err := renderRebalance(cmd.OutOrStdout(), cf.output, rep); err != nil {
				return err
			}
			if len(rep.Errors) > 0 {
				return fmt.Errorf("the cluster refused %d partition moves", len(rep.Errors))
			}
			return nil
		},
	}
	cf.add(cmd, true)
	f := cmd.Flags()
	f.StringVar(&dir, "data-dir", defaultClusterDir, "the directory given to sluice cluster up (when --bootstrap is not given)")
	f.StringSliceVar(&topics, "topic", nil, "rebalance only these topics (repeatable; default every topic)")
	f.Int64Var(&throttle, "throttle", 0, "replication throttle for the moves in bytes/s (0: unthrottled)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan, change nothing")
	f.BoolVar(&noWait, "no-wait", false, "return once the moves started")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	return cmd
}

func newRebalanceReport(res rebalance.Result, dryRun bool) rebalanceReport {
	rep := rebalanceReport{DryRun: dryRun, Moves: []rebalanceMove{}, Brokers: []rebalanceBroker{}, Throttle: res.Throttle,
		Completed: res.Completed, Elected: res.Elected}
	for _, m := range res.Moves {
		rep.Moves = append(rep.Moves, rebalanceMove{Topic: m.Topic, Partition: m.Partition, From: m.From, To: m.To})
	}
	for _, b := range res.Brokers {
		before, after := res.Before[b.ID], res.After[b.ID]
		rep.Brokers = append(rep.Brokers, rebalanceBroker{ID: b.ID, Zone: b.Rack, ReplicasBefore: before.Replicas,
			ReplicasAfter: after.Replicas, LeadersBefore: before.Leaders, LeadersAfter: after.Leaders})
	}
	slices.SortFunc(rep.Brokers, func(a, b rebalanceBroker) int { return int(a.ID - b.ID) })
	if len(res.Errors) > 0 {
		rep.Errors = map[string]string{}
		for k, err := range res.Errors {
			rep.Errors[k] = err.Error()
		}
	}
	return rep
}

func renderRebalance(w io.Writer, format string, rep rebalanceReport) error {
	ids := func(xs []int32) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = strconv.Itoa(int(x))
		}
		return strings.Join(s, ",")
	}
	brokers := &table{header: []string{"BROKER", "ZONE", "REPLICAS", "PREFERRED LEADERS"}}
	for _, b := range rep.Brokers {
		brokers.rows = append(brokers.rows, []string{strconv.Itoa(int(b.ID)), b.Zone,
			fmt.Sprintf("%d -> %d", b.ReplicasBefore, b.ReplicasAfter), fmt.Sprintf("%d -> %d", b.LeadersBefore, b.LeadersAfter)})
	}
	moves := &table{header: []string{"TOPIC", "PARTITION", "FROM", "TO"}}
	for _, m := range rep.Moves {
		moves.rows = append(moves.rows, []string{m.Topic, strconv.Itoa(int(m.Partition)), ids(m.From), ids(m.To)})
	}
	state := "completed"
	switch {
	case rep.DryRun:
		state = "dry run: nothing changed"
	case len(rep.Moves) == 0:
		state = "already balanced"
	case !rep.Completed:
		state = "moves started; run again to finish"
	}
	summary := &table{rows: [][]string{{fmt.Sprintf("%d moves, %s, %d preferred leaders elected", len(rep.Moves), state, rep.Elected)}}}
	return render(w, format, rep, brokers, moves, summary)
}
