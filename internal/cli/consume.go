package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

// consumeOptions are consume's flags.
type consumeOptions struct {
	fromBeginning bool
	offset        int64
	timestamp     string
	group         string
	partition     int32
	max           int
	idle          time.Duration
	format        string
}

func init() {
	register(func() *cobra.Command {
		var (
			cf clientFlags
			o  consumeOptions
		)
		cmd := &cobra.Command{
			Use:   "consume TOPIC",
			Short: "Consume records from a topic and print them",
			Long: `Consume records from a topic and print them, by default one value per line.

Start at the end of the topic (new records only) unless --from-beginning,
--offset or --timestamp says otherwise; with --group, those apply only where
the group has no committed offset, and printed records are committed.
--format prints each record through a template:
  %t topic  %p partition  %o offset  %k key  %v value
  %T timestamp (ms)  %h headers (k=v,k=v)  %% a percent sign
  \n newline  \t tab  \\ backslash
-o json prints one JSON object per line; -o yaml one YAML document per record.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runConsume(cmd, &cf, &o, args[0])
			},
		}
		cf.add(cmd, true)
		f := cmd.Flags()
		f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset")
		f.Int64Var(&o.offset, "offset", 0, "start at this offset (negative: this many records before the end)")
		f.StringVar(&o.timestamp, "timestamp", "", "start at the first record at or after this time (RFC 3339 or Unix milliseconds)")
		f.StringVar(&o.group, "group", "", "consume as a member of this consumer group and commit offsets")
		f.Int32Var(&o.partition, "partition", -1, "consume only this partition (not with --group)")
		f.IntVarP(&o.max, "max-messages", "n", 0, "exit after this many records (0: no limit)")
		f.DurationVar(&o.idle, "timeout", 0, "exit when no record arrives for this long (0: wait until interrupted)")
		f.StringVar(&o.format, "format", "", "print each record through this template (see above)")
		return cmd
	})
}

// parseTimestamp reads Unix milliseconds or an RFC 3339 time.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("bad timestamp %q: want RFC 3339 (2006-01-02T15:04:05Z) or Unix milliseconds", s)
	}
	return t.UnixMilli(), nil
}

// startOffset turns the start flags into a kgo offset.
func (o *consumeOptions) startOffset(cmd *cobra.Command) (kgo.Offset, error) {
	set := 0
	for _, name := range []string{"from-beginning", "offset", "timestamp"} {
		if cmd.Flags().Changed(name) {
			set++
		}
	}
	if set > 1 {
		return kgo.Offset{}, errors.New("give at most one of --from-beginning, --offset and --timestamp")
	}
	switch {
	case o.fromBeginning:
		return kgo.NewOffset().AtStart(), nil
	case cmd.Flags().Changed("offset"):
		if o.offset < 0 {
			return kgo.NewOffset().AtEnd().Relative(o.offset), nil
		}
		return kgo.NewOffset().At(o.offset), nil
	case o.timestamp != "":
		ms, err := parseTimestamp(o.timestamp)
		if err != nil {
			return kgo.Offset{}, err
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	}
	return kgo.NewOffset().AtEnd(), nil
}

func runConsume(cmd *cobra.Command, cf *clientFlags, o *consumeOptions, topic string) error {
	start, err := o.startOffset(cmd)
	if err != nil {
		return err
	}
	if o.group != "" && cmd.Flags().Changed("partition") {
		return errors.New("--partition cannot be used with --group: the group assigns partitions")
	}
	if o.max < 0 {
		return errors.New("--max-messages must not be negative")
	}
	var tmpl []formatPart
	if o.format != "" {
		if cf.output != outputTable && cf.output != "" {
			return errors.New("--format and -o json|yaml cannot be combined")
		}
		if tmpl, err = parseFormat(o.format); err != nil {
			return err
		}
	}
	if err := checkOutput(cf.output); err != nil {
		return err
	}

	ctx := cmd.Context()
	if err := checkTopic(ctx, cf, topic, o.partition, cmd.Flags().Changed("partition")); err != nil {
		return err
	}
	var (
		opts   []kgo.Opt
		joined atomic.Bool // the group has given this member its assignment
	)
	switch {
	case o.group != "":
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(o.group),
			kgo.ConsumeResetOffset(start), kgo.AutoCommitMarks(),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { joined.Store(true) }))
	case cmd.Flags().Changed("partition"):
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {o.partition: start}}))
	default:
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))
	}
	cl, err := cf.connect(ctx, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriter(cmd.OutOrStdout())
	p := recordPrinter{w: out, output: cf.output, tmpl: tmpl}
	count := 0
	loopErr := func() error {
		for o.max == 0 || count < o.max {
			pctx, cancel := ctx, context.CancelFunc(func() {})
			if o.idle > 0 {
				pctx, cancel = context.WithTimeout(ctx, o.idle)
			}
			fs := cl.PollRecords(pctx, o.max-count)
			idle := pctx.Err() != nil
			cancel()
			if ctx.Err() != nil {
				return nil // interrupted: a normal way to stop
			}
			var ferr error
			fs.EachError(func(t string, p int32, err error) {
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					return
				}
				if ferr == nil {
					ferr = fmt.Errorf("consume %s[%d]: %w", t, p, err)
				}
			})
			if ferr != nil {
				return ferr
			}
			recs := fs.Records()
			for _, r := range recs {
				if o.max > 0 && count >= o.max {
					break
				}
				if err := p.print(r); err != nil {
					return err
				}
				count++
				if o.group != "" {
					cl.MarkCommitRecords(r)
				}
			}
			if err := out.Flush(); err != nil {
				return err
			}
			// --timeout passed with nothing new; a group member only counts
			// idle time once the group has assigned it partitions.
			if len(recs) == 0 && idle && (o.group == "" || joined.Load()) {
				return nil
			}
		}
		return nil
	}()
	if err := out.Flush(); loopErr == nil {
		loopErr = err
	}
	if o.group != "" {
		// Commit what was printed even after an interrupt, bounded in time.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cf.requestTimeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil && loopErr == nil {
			loopErr = fmt.Errorf("commit offsets of group %q: %w", o.group, err)
		}
		cl.LeaveGroupContext(cctx)
	}
	return loopErr
}

// checkTopic fails early, and clearly, for a topic or partition that does
// not exist, instead of waiting for records that cannot come.
func checkTopic(ctx context.Context, cf *clientFlags, topic string, partition int32, onePartition bool) error {
	adm, err := cf.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()
	octx, cancel := cf.opContext(ctx)
	defer cancel()
	ds, err := adm.ListTopics(octx, topic)
	if err != nil {
		return fmt.Errorf("look up topic %q: %w", topic, err)
	}
	d, ok := ds[topic]
	if !ok {
		return fmt.Errorf("topic %q: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if d.Err != nil {
		return fmt.Errorf("topic %q: %w", topic, d.Err)
	}
	if onePartition {
		if _, ok := d.Partitions[partition]; !ok {
			return fmt.Errorf("topic %q has no partition %d: %w", topic, partition, kerr.UnknownTopicOrPartition)
		}
	}
	return nil
}

// consumedRecord is a record in -o json and -o yaml output.
type consumedRecord struct {
	Topic     string         `json:"topic" yaml:"topic"`
	Partition int32          `json:"partition" yaml:"partition"`
	Offset    int64          `json:"offset" yaml:"offset"`
	Timestamp int64          `json:"timestamp" yaml:"timestamp"`
	Key       *string        `json:"key" yaml:"key"`
	Value     *string        `json:"value" yaml:"value"`
	Headers   []recordHeader `json:"headers" yaml:"headers"`
}

type recordHeader struct {
	Key   string `json:"key" yaml:"key"`
	Value string `json:"value" yaml:"value"`
}

func bytesPtr(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// recordPrinter writes records in one of consume's output forms.
type recordPrinter struct {
	w      io.Writer
	output string
	tmpl   []formatPart
}

func (p *recordPrinter) print(r *kgo.Record) error {
	switch {
	case p.tmpl != nil:
		_, err := io.WriteString(p.w, render1(p.tmpl, r))
		return err
	case p.output == outputJSON || p.output == outputYAML:
		cr := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Timestamp: r.Timestamp.UnixMilli(), Key: bytesPtr(r.Key), Value: bytesPtr(r.Value),
			Headers: make([]recordHeader, 0, len(r.Headers))}
		for _, h := range r.Headers {
			cr.Headers = append(cr.Headers, recordHeader{Key: h.Key, Value: string(h.Value)})
		}
		if p.output == outputJSON {
			return json.NewEncoder(p.w).Encode(cr)
		}
		if _, err := io.WriteString(p.w, "---\n"); err != nil {
			return err
		}
		enc := yaml.NewEncoder(p.w)
		enc.SetIndent(2)
		if err := enc.Encode(cr); err != nil {
			return err
		}
		return enc.Close()
	}
	if _, err := p.w.Write(r.Value); err != nil {
		return err
	}
	_, err := io.WriteString(p.w, "\n")
	return err
}

// formatPart is literal text or one %-field of a --format template.
type formatPart struct {
	lit   string
	field byte // 0 for literal text
}

// parseFormat compiles a --format template once, rejecting unknown fields.
func parseFormat(s string) ([]formatPart, error) {
	var (
		parts []formatPart
		lit   strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c != '%' && c != '\\') || i+1 == len(s) {
			lit.WriteByte(c)
			continue
		}
		i++
		n := s[i]
		if c == '\\' {
			switch n {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(n)
			}
			continue
		}
		switch n {
		case '%':
			lit.WriteByte('%')
		case 't', 'p', 'o', 'k', 'v', 'T', 'h':
			flush()
			parts = append(parts, formatPart{field: n})
		default:
			return nil, fmt.Errorf("bad --format: unknown field %%%c (want %%t %%p %%o %%k %%v %%T %%h or %%%%)", n)
		}
	}
	flush()
	if parts == nil {
		parts = []formatPart{}
	}
	return parts, nil
}

func render1(parts []formatPart, r *kgo.Record) string {
	var b strings.Builder
	for _, p := range parts {
		switch p.field {
		case 0:
			b.WriteString(p.lit)
		case 't':
			b.WriteString(r.Topic)
		case 'p':
			b.WriteString(strconv.Itoa(int(r.Partition)))
		case 'o':
			b.WriteString(strconv.FormatInt(r.Offset, 10))
		case 'k':
			b.Write(r.Key)
		case 'v':
			b.Write(r.Value)
		case 'T':
			b.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(h.Key)
				b.WriteByte('=')
				b.Write(h.Value)
			}
		}
	}
	return b.String()
}
