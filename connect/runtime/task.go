package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Stages as Kafka Connect names them in __connect.errors.stage.
const (
	stageKeyConverter   = "KEY_CONVERTER"
	stageValueConverter = "VALUE_CONVERTER"
	stageTransformation = "TRANSFORMATION"
	stageTaskPut        = "TASK_PUT"
)

// taskSettings are the runtime's own keys of a connector configuration.
type taskSettings struct {
	keyConv, valConv Converter
	chain            *Chain
	tolerateAll      bool
	dlqTopic         string
	dlqHeaders       bool
	logErrors        bool
	consumerOpts     []kgo.Opt // from consumer.override.*, for sink tasks
}

// BuildSettings parses the runtime keys of a connector config (converters,
// transforms, errors.*); errs maps a key to its problem, for validation.
func BuildSettings(cfg map[string]string) (taskSettings, map[string]string) {
	errs := map[string]string{}
	var s taskSettings
	conv := func(prefix, def string) Converter {
		class := cfg[prefix]
		if strings.TrimSpace(class) == "" {
			class = def
		}
		c, err := NewConverter(class, sub(cfg, prefix+"."), prefix == "key.converter")
		if err != nil {
			errs[prefix] = err.Error()
		}
		return c
	}
	s.keyConv = conv("key.converter", JSONConverterClass)
	s.valConv = conv("value.converter", JSONConverterClass)
	chain, terrs := BuildChain(cfg)
	for k, v := range terrs {
		errs[k] = v
	}
	s.chain = chain
	switch t := strings.TrimSpace(cfg["errors.tolerance"]); t {
	case "", "none":
	case "all":
		s.tolerateAll = true
	default:
		errs["errors.tolerance"] = fmt.Sprintf("Invalid value %s for configuration errors.tolerance: String must be one of: none, all", t)
	}
	s.dlqTopic = strings.TrimSpace(cfg["errors.deadletterqueue.topic.name"])
	s.dlqHeaders = strings.EqualFold(strings.TrimSpace(cfg["errors.deadletterqueue.context.headers.enable"]), "true")
	s.logErrors = strings.EqualFold(strings.TrimSpace(cfg["errors.log.enable"]), "true")
	s.consumerOpts = consumerOverrides(cfg, errs)
	return s, errs
}

// consumerOverrides turns a sink connector's consumer.override.* keys
// (Kafka Connect's per-connector client overrides, policy All) into
// consumer options. Keys the worker cannot honour are reported, not
// silently dropped.
func consumerOverrides(cfg map[string]string, errs map[string]string) []kgo.Opt {
	const prefix = "consumer.override."
	var opts []kgo.Opt
	for k, v := range cfg {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		v = strings.TrimSpace(v)
		ms := func() (time.Duration, bool) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				errs[k] = fmt.Sprintf("Invalid value %s for configuration %s: must be a positive number of milliseconds", v, k)
				return 0, false
			}
			return time.Duration(n) * time.Millisecond, true
		}
		bytes := func() (int32, bool) {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				errs[k] = fmt.Sprintf("Invalid value %s for configuration %s: must be a positive number of bytes", v, k)
				return 0, false
			}
			return int32(n), true
		}
		switch name := strings.TrimPrefix(k, prefix); name {
		case "session.timeout.ms":
			if d, ok := ms(); ok {
				opts = append(opts, kgo.SessionTimeout(d))
			}
		case "heartbeat.interval.ms":
			if d, ok := ms(); ok {
				opts = append(opts, kgo.HeartbeatInterval(d))
			}
		case "rebalance.timeout.ms", "max.poll.interval.ms":
			if d, ok := ms(); ok {
				opts = append(opts, kgo.RebalanceTimeout(d))
			}
		case "fetch.max.wait.ms":
			if d, ok := ms(); ok {
				opts = append(opts, kgo.FetchMaxWait(d))
			}
		case "fetch.max.bytes":
			if n, ok := bytes(); ok {
				opts = append(opts, kgo.FetchMaxBytes(n))
			}
		case "max.partition.fetch.bytes":
			if n, ok := bytes(); ok {
				opts = append(opts, kgo.FetchMaxPartitionBytes(n))
			}
		case "auto.offset.reset":
			switch v {
			case "earliest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			case "latest":
				opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
			default:
				errs[k] = fmt.Sprintf("Invalid value %s for configuration %s: String must be one of: earliest, latest", v, k)
			}
		case "isolation.level":
			switch v {
			case "read_uncommitted":
			case "read_committed":
				opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			default:
				errs[k] = fmt.Sprintf("Invalid value %s for configuration %s: String must be one of: read_committed, read_uncommitted", v, k)
			}
		case "client.rack":
			opts = append(opts, kgo.Rack(v))
		default:
			errs[k] = fmt.Sprintf("%s is not a consumer setting this worker can override (supported: session.timeout.ms, heartbeat.interval.ms, max.poll.interval.ms, rebalance.timeout.ms, fetch.max.wait.ms, fetch.max.bytes, max.partition.fetch.bytes, auto.offset.reset, isolation.level, client.rack)", name)
		}
	}
	return opts
}

func settingsError(errs map[string]string) error {
	if len(errs) == 0 {
		return nil
	}
	var parts []string
	for k, v := range errs {
		parts = append(parts, k+": "+v)
	}
	return fmt.Errorf("invalid configuration: %s", strings.Join(parts, "; "))
}

func (rt *Runtime) newTask(id TaskID, connCfg, taskCfg map[string]string) (taskRunner, error) {
	s, errs := BuildSettings(connCfg)
	if err := settingsError(errs); err != nil {
		return nil, err
	}
	p, err := plugin.Lookup(connCfg["connector.class"])
	if err != nil {
		return nil, err
	}
	switch c := p.New().(type) {
	case plugin.SourceConnector:
		return &sourceTask{rt: rt, id: id, s: s, task: c.NewTask(), cfg: taskCfg}, nil
	case plugin.SinkConnector:
		st := &sinkTask{rt: rt, id: id, s: s, task: c.NewTask(), cfg: taskCfg, connCfg: connCfg}
		return st, nil
	}
	return nil, fmt.Errorf("class %s is neither a source nor a sink connector", p.Class)
}

// errorContext is what a failed record carries to the log and the DLQ.
type errorContext struct {
	stage string
	err   error
	orig  *kgo.Record // the consumed record (sinks)
}

// handle applies errors.tolerance: it returns the error to fail the task
// with, or nil when the record is skipped (and maybe sent to the DLQ).
func (rt *Runtime) handle(ctx context.Context, id TaskID, s taskSettings, ec errorContext) error {
	rt.metrics.errs.WithLabelValues(id.Connector).Inc()
	if !s.tolerateAll {
		return fmt.Errorf("Tolerance exceeded in error handler: stage %s: %w", ec.stage, ec.err)
	}
	if s.logErrors {
		rt.errLog.Warn("connect: record skipped", "task", id.String(), "stage", ec.stage, "err", ec.err)
	}
	if s.dlqTopic == "" || ec.orig == nil {
		return nil
	}
	r := &kgo.Record{Topic: s.dlqTopic, Key: ec.orig.Key, Value: ec.orig.Value, Headers: append([]kgo.RecordHeader(nil), ec.orig.Headers...)}
	if s.dlqHeaders {
		h := func(k, v string) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "__connect.errors." + k, Value: []byte(v)})
		}
		h("topic", ec.orig.Topic)
		h("partition", strconv.Itoa(int(ec.orig.Partition)))
		h("offset", strconv.FormatInt(ec.orig.Offset, 10))
		h("connector.name", id.Connector)
		h("task.id", strconv.Itoa(id.Task))
		h("stage", ec.stage)
		h("class.name", "sluice")
		h("exception.class.name", "org.apache.kafka.connect.errors.DataException")
		h("exception.message", ec.err.Error())
		h("exception.stacktrace", ec.err.Error())
	}
	if err := rt.cfg.Producer.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("writing to dead letter queue %s: %w", s.dlqTopic, err)
	}
	rt.metrics.dlq.WithLabelValues(id.Connector).Inc()
	return nil
}

type taskContext struct {
	offsets map[string]map[string]any
	rt      *Runtime
	id      TaskID       // sink tasks: for the errant record reporter
	s       taskSettings // sink tasks: errors.* settings
}

// ErrantRecordReporter reports a record a sink task cannot write through
// the same errors.tolerance and dead letter queue as converter failures
// (stage TASK_PUT).
func (c taskContext) ErrantRecordReporter() plugin.ErrantRecordReporter { return c }

func (c taskContext) Report(ctx context.Context, r *plugin.SinkRecord, cause error) error {
	orig := r.Consumed
	if orig == nil {
		orig = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	}
	return c.rt.handle(ctx, c.id, c.s, errorContext{stage: stageTaskPut, err: cause, orig: orig})
}

func (c taskContext) Bootstrap() []string { return c.rt.cfg.Seeds }

func (c taskContext) Producer() *kgo.Client { return c.rt.cfg.Producer }

func (c taskContext) Offset(partition map[string]any) map[string]any {
	k, _ := json.Marshal(partition)
	return c.offsets[string(k)]
}

// stopGrace bounds how long a stopping task may take to deliver and
// commit what it already has.
const stopGrace = 15 * time.Second

// idleCommitInterval is how often a sink task with no new records still
// commits what PreCommit says is safe (asynchronous sinks finish later).
const idleCommitInterval = 5 * time.Second

// ReadOffsets reads the offsets topic to its end and returns the latest
// source offset per partition (keyed by the partition's JSON) of connector.
func ReadOffsets(ctx context.Context, seeds []string, topic, connector string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	err := readTopic(ctx, seeds, topic, func(r *kgo.Record) {
		var key []json.RawMessage
		if json.Unmarshal(r.Key, &key) != nil || len(key) != 2 {
			return
		}
		var name string
		if json.Unmarshal(key[0], &name) != nil || name != connector {
			return
		}
		var part map[string]any
		if json.Unmarshal(key[1], &part) != nil {
			return
		}
		pk, _ := json.Marshal(part)
		if r.Value == nil {
			delete(out, string(pk))
			return
		}
		var off map[string]any
		if json.Unmarshal(r.Value, &off) == nil {
			out[string(pk)] = off
		}
	})
	return out, err
}

// sinkTask moves records from Kafka to a plugin.SinkTask.
type sinkTask struct {
	rt      *Runtime
	id      TaskID
	s       taskSettings
	task    plugin.SinkTask
	cfg     map[string]string
	connCfg map[string]string

	// consumed is the next offset per partition this task has put; a
	// partition leaves it when revoked, so its offset is never committed
	// again by a task that no longer owns it.
	mu       sync.Mutex
	consumed map[plugin.TopicPartition]int64
}

// forget drops revoked or lost partitions (called by the group client).
func (t *sinkTask) forget(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, ps := range gone {
		for _, p := range ps {
			delete(t.consumed, plugin.TopicPartition{Topic: topic, Partition: p})
		}
	}
}

func (t *sinkTask) run(ctx context.Context, started func()) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(t.rt.cfg.Seeds...),
		kgo.ClientID("connector-consumer-" + t.id.String()),
		kgo.ConsumerGroup("connect-" + t.id.Connector),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsRevoked(t.forget),
		kgo.OnPartitionsLost(t.forget),
	}
	opts = append(opts, t.s.consumerOpts...) // later options win
	topics := plugin.SplitList(t.connCfg["topics"])
	if re := strings.TrimSpace(t.connCfg["topics.regex"]); re != "" {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("topics.regex: %w", err)
		}
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re))
	} else if len(topics) > 0 {
		opts = append(opts, kgo.ConsumeTopics(topics...))
	} else {
		return errors.New("Must configure one of topics or topics.regex")
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := t.task.Start(taskContext{rt: t.rt, id: t.id, s: t.s}, t.cfg); err != nil {
		return err
	}
	started()
	defer func() {
		if err := t.task.Stop(); err != nil {
			t.rt.sinkLog.Warn("connect: stopping sink task", "task", t.id.String(), "err", err)
		}
	}()
	t.mu.Lock()
	t.consumed = map[plugin.TopicPartition]int64{}
	t.mu.Unlock()
	lastCommit := time.Now()
	for {
		fs := cl.PollRecords(ctx, 1000)
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) {
				continue
			}
			t.rt.sinkLog.Warn("connect: sink fetch", "task", t.id.String(), "topic", fe.Topic, "err", fe.Err)
		}
		recs := fs.Records()
		if len(recs) == 0 {
			// A quiet topic still gets its offsets committed: a task that
			// delivers asynchronously (webhooks) reports progress through
			// PreCommit after the records were put, as Kafka Connect's
			// offset.flush.interval.ms commits regardless of new records.
			var err error
			if ctx.Err() != nil || time.Since(lastCommit) >= idleCommitInterval {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
				err = t.commit(fctx, cl)
				cancel()
				lastCommit = time.Now()
			}
			cl.AllowRebalance()
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		lastCommit = time.Now()
		// As for sources: what was fetched before a stop is put and its
		// offsets committed before the consumer leaves its group.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
		err := t.process(fctx, cl, recs)
		cancel()
		cl.AllowRebalance()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// process converts, puts and commits one fetched batch.
func (t *sinkTask) process(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	t.rt.metrics.read.WithLabelValues(t.id.Connector).Add(float64(len(recs)))
	t.rt.sawTopics(t.id, recs)
	batch := make([]*plugin.SinkRecord, 0, len(recs))
	t.mu.Lock()
	for _, kr := range recs {
		t.consumed[plugin.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}] = kr.Offset + 1
	}
	t.mu.Unlock()
	for _, kr := range recs {
		sr, ec := t.convert(kr)
		if ec != nil {
			if err := t.rt.handle(ctx, t.id, t.s, *ec); err != nil {
				return err
			}
			continue
		}
		if sr != nil {
			batch = append(batch, sr)
		}
	}
	if err := t.task.Put(batch); err != nil {
		return fmt.Errorf("task threw an uncaught and unrecoverable exception in put: %w", err)
	}
	t.rt.metrics.put.WithLabelValues(t.id.Connector).Add(float64(len(batch)))
	return t.commit(ctx, cl)
}

// commit asks the task which of the consumed offsets are safe (PreCommit)
// and commits those for the group.
func (t *sinkTask) commit(ctx context.Context, cl *kgo.Client) error {
	t.mu.Lock()
	offsets := make(map[plugin.TopicPartition]int64, len(t.consumed))
	for tp, o := range t.consumed {
		offsets[tp] = o
	}
	t.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	commitStart := time.Now()
	commit, err := t.task.PreCommit(offsets)
	if err != nil {
		return fmt.Errorf("pre-commit: %w", err)
	}
	if len(commit) == 0 {
		return nil
	}
	m := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range commit {
		if m[tp.Topic] == nil {
			m[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		m[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var cerr error
	cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsgOffsetCommitRequest, resp *kmsgOffsetCommitResponse, err error) {
		cerr = err
		if err == nil && resp != nil {
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = e
					}
				}
			}
		}
	})
	if cerr != nil {
		// Not fatal (a rebalance may have moved the partitions); the records
		// come again to whoever owns them next.
		t.rt.metrics.commitFailures.WithLabelValues(t.id.Connector).Inc()
		t.rt.sinkLog.Warn("connect: sink offset commit", "task", t.id.String(), "err", cerr)
		return nil
	}
	t.rt.metrics.commitLatency.WithLabelValues(t.id.Connector).Observe(time.Since(commitStart).Seconds())
	return nil
}

func (t *sinkTask) convert(kr *kgo.Record) (*plugin.SinkRecord, *errorContext) {
	ks, k, err := t.s.keyConv.ToConnect(kr.Topic, kr.Key)
	if err != nil {
		return nil, &errorContext{stage: stageKeyConverter, err: err, orig: kr}
	}
	vs, v, err := t.s.valConv.ToConnect(kr.Topic, kr.Value)
	if err != nil {
		return nil, &errorContext{stage: stageValueConverter, err: err, orig: kr}
	}
	r := &Record{Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, KeySchema: ks, Key: k, ValueSchema: vs, Value: v, Timestamp: kr.Timestamp}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, plugin.Header{Key: h.Key, Value: h.Value})
	}
	r, err = t.s.chain.Apply(r)
	if err != nil {
		return nil, &errorContext{stage: stageTransformation, err: err, orig: kr}
	}
	if r == nil {
		return nil, nil
	}
	return &plugin.SinkRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, KeySchema: r.KeySchema, Key: r.Key,
		ValueSchema: r.ValueSchema, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp, Consumed: kr}, nil
}
