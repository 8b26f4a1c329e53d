package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(func() *cobra.Command {
		var cf clientFlags
		cmd := &cobra.Command{
			Use:   "topic",
			Short: "Create, list, describe, alter and delete topics on any Kafka cluster",
		}
		cf.add(cmd, true)
		cmd.AddCommand(topicCreateCmd(&cf), topicListCmd(&cf), topicDescribeCmd(&cf),
			topicAlterCmd(&cf), topicDeleteCmd(&cf))
		return cmd
	})
}

// topicRow is one topic in list and create output.
type topicRow struct {
	Name              string `json:"name" yaml:"name"`
	ID                string `json:"id,omitempty" yaml:"id,omitempty"`
	Partitions        int    `json:"partitions" yaml:"partitions"`
	ReplicationFactor int    `json:"replication_factor" yaml:"replication_factor"`
	Internal          bool   `json:"internal,omitempty" yaml:"internal,omitempty"`
}

// parseConfigs parses repeated k=v flags.
func parseConfigs(kvs []string) (map[string]*string, error) {
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad --config %q: want key=value", kv)
		}
		m[k] = &v
	}
	return m, nil
}

// withMessage adds a broker's error message to its error code.
func withMessage(err error, msg string) error {
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

func topicCreateCmd(cf *clientFlags) *cobra.Command {
	var (
		partitions int32
		rf         int16
		configs    []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs, err := parseConfigs(configs)
			if err != nil {
				return err
			}
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			r, err := adm.CreateTopic(ctx, partitions, rf, cfgs, args[0])
			if err != nil {
				return fmt.Errorf("create topic %q: %w", args[0], withMessage(err, r.ErrMessage))
			}
			row := topicRow{Name: r.Topic, ID: topicID(r.ID), Partitions: int(r.NumPartitions), ReplicationFactor: int(r.ReplicationFactor)}
			t := &table{header: []string{"TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "ID"}}
			t.add(row.Name, strconv.Itoa(row.Partitions), strconv.Itoa(row.ReplicationFactor), orDash(row.ID))
			return render(cmd.OutOrStdout(), cf.output, row, t)
		},
	}
	cmd.Flags().Int32Var(&partitions, "partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	cmd.Flags().Int16Var(&rf, "replication-factor", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	return cmd
}

func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	// Kafka prints topic ids as URL-safe base64 without padding (Uuid.toString).
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func topicListCmd(cf *clientFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			var ds kadm.TopicDetails
			if internal {
				ds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				ds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			rows := []topicRow{}
			t := &table{header: []string{"TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "ID"}}
			for _, name := range ds.Names() {
				d := ds[name]
				row := topicRow{Name: name, ID: topicID(d.ID), Partitions: len(d.Partitions),
					ReplicationFactor: d.Partitions.NumReplicas(), Internal: d.IsInternal}
				rows = append(rows, row)
				t.add(row.Name, strconv.Itoa(row.Partitions), strconv.Itoa(row.ReplicationFactor), orDash(row.ID))
			}
			return render(cmd.OutOrStdout(), cf.output, rows, t)
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

// topicDescription is the output of topic describe.
type topicDescription struct {
	Name              string              `json:"name" yaml:"name"`
	ID                string              `json:"id,omitempty" yaml:"id,omitempty"`
	Internal          bool                `json:"internal" yaml:"internal"`
	ReplicationFactor int                 `json:"replication_factor" yaml:"replication_factor"`
	Partitions        []partitionDetail   `json:"partitions" yaml:"partitions"`
	Configs           []topicConfigDetail `json:"configs" yaml:"configs"`
}

type partitionDetail struct {
	Partition   int32   `json:"partition" yaml:"partition"`
	Leader      int32   `json:"leader" yaml:"leader"`
	LeaderEpoch int32   `json:"leader_epoch" yaml:"leader_epoch"`
	Replicas    []int32 `json:"replicas" yaml:"replicas"`
	ISR         []int32 `json:"isr" yaml:"isr"`
	StartOffset int64   `json:"start_offset" yaml:"start_offset"`
	EndOffset   int64   `json:"end_offset" yaml:"end_offset"`
	Error       string  `json:"error,omitempty" yaml:"error,omitempty"`
}

type topicConfigDetail struct {
	Name      string `json:"name" yaml:"name"`
	Value     string `json:"value" yaml:"value"`
	Source    string `json:"source" yaml:"source"`
	Sensitive bool   `json:"sensitive,omitempty" yaml:"sensitive,omitempty"`
}

func topicDescribeCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions (leader, replicas, ISR, offsets) and its non-default configs",
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
			ds, err := adm.ListTopics(ctx, name)
			if err != nil {
				return fmt.Errorf("describe topic %q: %w", name, err)
			}
			d, ok := ds[name]
			if !ok {
				return fmt.Errorf("describe topic %q: %w", name, kerr.UnknownTopicOrPartition)
			}
			if d.Err != nil {
				return fmt.Errorf("describe topic %q: %w", name, d.Err)
			}
			starts, err := adm.ListStartOffsets(ctx, name)
			if err != nil {
				return fmt.Errorf("list start offsets of %q: %w", name, err)
			}
			ends, err := adm.ListEndOffsets(ctx, name)
			if err != nil {
				return fmt.Errorf("list end offsets of %q: %w", name, err)
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, name)
			if err != nil {
				return fmt.Errorf("describe configs of %q: %w", name, err)
			}
			rc, err := rcs.On(name, nil)
			if err == nil && rc.Err != nil {
				err = withMessage(rc.Err, rc.ErrMessage)
			}
			if err != nil {
				return fmt.Errorf("describe configs of %q: %w", name, err)
			}

			out := topicDescription{Name: name, ID: topicID(d.ID), Internal: d.IsInternal,
				ReplicationFactor: d.Partitions.NumReplicas(), Partitions: []partitionDetail{}, Configs: []topicConfigDetail{}}
			pt := &table{header: []string{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "START", "END"}}
			for _, p := range d.Partitions.Sorted() {
				pd := partitionDetail{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
					Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), StartOffset: -1, EndOffset: -1}
				if p.Err != nil {
					pd.Error = p.Err.Error()
				}
				if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
					pd.StartOffset = o.Offset
				}
				if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
					pd.EndOffset = o.Offset
				}
				out.Partitions = append(out.Partitions, pd)
				pt.add(strconv.Itoa(int(pd.Partition)), strconv.Itoa(int(pd.Leader)), strconv.Itoa(int(pd.LeaderEpoch)),
					joinInt32s(pd.Replicas), joinInt32s(pd.ISR), strconv.FormatInt(pd.StartOffset, 10), strconv.FormatInt(pd.EndOffset, 10))
			}
			ct := &table{header: []string{"CONFIG", "VALUE", "SOURCE"}}
			sort.Slice(rc.Configs, func(i, j int) bool { return rc.Configs[i].Key < rc.Configs[j].Key })
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceStaticBrokerConfig {
					continue
				}
				cd := topicConfigDetail{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive}
				out.Configs = append(out.Configs, cd)
				v := cd.Value
				if cd.Sensitive {
					v = "(sensitive)"
				}
				ct.add(cd.Name, v, cd.Source)
			}
			head := &table{}
			head.add("Topic:", name)
			head.add("ID:", orDash(out.ID))
			head.add("Partitions:", strconv.Itoa(len(out.Partitions)))
			head.add("Replication factor:", strconv.Itoa(out.ReplicationFactor))
			tables := []*table{head, pt}
			if len(out.Configs) > 0 {
				tables = append(tables, ct)
			}
			return render(cmd.OutOrStdout(), cf.output, out, tables...)
		},
	}
}

func nonNil(xs []int32) []int32 {
	if xs == nil {
		return []int32{}
	}
	return xs
}

func topicAlterCmd(cf *clientFlags) *cobra.Command {
	var (
		partitions int
		set        []string
		del        []string
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Add partitions to a topic or change its configs (incrementally)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfgs, err := parseConfigs(set)
			if err != nil {
				return err
			}
			if partitions <= 0 && len(cfgs) == 0 && len(del) == 0 {
				return errors.New("nothing to alter: give --partitions, --config or --delete-config")
			}
			var alters []kadm.AlterConfig
			keys := make([]string, 0, len(cfgs))
			for k := range cfgs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: cfgs[k]})
			}
			for _, k := range del {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			w := cmd.ErrOrStderr()
			if partitions > 0 {
				rs, err := adm.UpdatePartitions(ctx, partitions, name)
				if err == nil {
					var r kadm.CreatePartitionsResponse
					r, err = rs.On(name, nil)
					if err == nil && r.Err != nil {
						err = withMessage(r.Err, r.ErrMessage)
					}
				}
				if err != nil {
					return fmt.Errorf("set partitions of %q to %d: %w", name, partitions, err)
				}
				fmt.Fprintf(w, "topic %s now has %d partitions\n", name, partitions)
			}
			if len(alters) > 0 {
				rs, err := adm.AlterTopicConfigs(ctx, alters, name)
				if err == nil {
					var r kadm.AlterConfigsResponse
					r, err = rs.On(name, nil)
					if err == nil && r.Err != nil {
						err = withMessage(r.Err, r.ErrMessage)
					}
				}
				if err != nil {
					return fmt.Errorf("alter configs of %q: %w", name, err)
				}
				fmt.Fprintf(w, "topic %s: %d config(s) altered\n", name, len(alters))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&partitions, "partitions", 0, "new total number of partitions (can only grow)")
	cmd.Flags().StringArrayVar(&set, "config", nil, "set topic config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete-config", nil, "remove a topic config override, back to the default (repeatable)")
	return cmd
}

// deleteResult is one row of topic and group delete output.
type deleteResult struct {
	Name  string `json:"name" yaml:"name"`
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
}

func topicDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := cf.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			rs, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", err)
			}
			results := make([]deleteResult, 0, len(args))
			var first error
			for _, name := range args {
				res := deleteResult{Name: name}
				r, err := rs.On(name, nil)
				if err == nil && r.Err != nil {
					err = withMessage(r.Err, r.ErrMessage)
				}
				if err != nil {
					res.Error = err.Error()
					if first == nil {
						first = fmt.Errorf("delete topic %q: %w", name, err)
					}
				}
				results = append(results, res)
			}
			if err := renderDeletes(cmd, cf.output, "TOPIC", results); err != nil {
				return err
			}
			return first
		},
	}
}

func renderDeletes(cmd *cobra.Command, format, kind string, results []deleteResult) error {
	t := &table{header: []string{kind, "RESULT"}}
	for _, r := range results {
		res := "deleted"
		if r.Error != "" {
			res = r.Error
		}
		t.add(r.Name, res)
	}
	return render(cmd.OutOrStdout(), format, results, t)
}
