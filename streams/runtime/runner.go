package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams/plan"
)

// RunnerConfig configures one job's runner on one instance.
type RunnerConfig struct {
	Bootstrap      []string
	Plan           *plan.Plan
	Group          string        // consumer group; "" means "sluice-streams-" + job name
	CommitInterval time.Duration // 0 means 1s
	// MaxTaskIdle is how long a task reading several topics (a join) waits
	// for a topic with nothing fetched before going on without it, as
	// Kafka Streams' max.task.idle.ms; 0 never waits.
	MaxTaskIdle time.Duration
	// SessionTimeout is the consumer group session timeout: how long the
	// group waits for an instance that vanished (kill -9) before giving
	// its tasks to others; 0 means kgo's default (45s).
	SessionTimeout time.Duration
	// Registry is the schema registry URL for avro keys and values; the
	// job's own `registry` setting takes precedence.
	Registry  string
	Logger    *slog.Logger
	Metrics   *Metrics  // may be nil
	ExtraOpts []kgo.Opt // TLS, SASL, ...
	// OnStats, if set, is called from the runner's goroutine after each
	// batch with the job's totals on this instance.
	OnStats func(JobStats)

	crash bool // tests: on cancel, stop as kill -9 would
}

// JobStats are a job's totals on one instance, over its current tasks.
type JobStats struct {
	Steps                             []StepStats // in plan op order
	In, Out                           int64
	Late, DeadLetters, Lag, StateSize int64
	ChangelogWrites                   int64 // store entries written to the changelog
}

// StepStats are records into and out of one step.
type StepStats struct {
	Step    string // e.g. "steps[2].filter"
	In, Out int64
}

// ErrUnknownTopic is returned when a source topic does not exist.
var ErrUnknownTopic = errors.New("unknown topic")

// Dead-letter record headers, after Kafka Connect's errors.deadletterqueue
// context headers.
const (
	HeaderError     = "sluice.error"
	HeaderTopic     = "sluice.source.topic"
	HeaderPartition = "sluice.source.partition"
	HeaderOffset    = "sluice.source.offset"
)

// Run runs one job until ctx ends, then commits what it has written and
// returns nil; it returns an error only for a fatal problem (an unknown
// source topic, co-partitioning violated, the sink unwritable).
//
// Each input partition number is one task: partition p of every source
// feeds task p, so joined sources must have equal partition counts and
// keys partitioned alike (the range balancer keeps the same numbers on the
// same member). Delivery is at least once: offsets are marked only after
// the outputs of their records are acknowledged, and committed every
// CommitInterval and on revocation. A stateful task writes its store
// changes and input offsets to the job's changelog topic (changelog.go)
// and a task moved to another instance restores its stores from it. A key_by before an
// aggregate or join splits the job into stages joined by a repartition
// topic (repartition.go), each its own consumer group.
func Run(ctx context.Context, cfg RunnerConfig) error {
	if cfg.Plan == nil || cfg.Plan.Job == nil {
		return errors.New("streams runner: no plan")
	}
	job := cfg.Plan.Job
	if cfg.Group == "" {
		cfg.Group = "sluice-streams-" + job.Name
	}
	if job.CommitInterval > 0 {
		cfg.CommitInterval = job.CommitInterval
	}
	if job.SessionTimeout > 0 {
		cfg.SessionTimeout = job.SessionTimeout
	}
	if job.Registry != "" {
		cfg.Registry = job.Registry
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	var codecs *avroCodecs
	if job.UsesAvro() {
		if cfg.Registry == "" {
			return fmt.Errorf("streams job %q: avro needs a schema registry (the job's `registry` or the engine's)", job.Name)
		}
		codecs = newAvroCodecs(cfg.Registry)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st := stages(cfg.Plan)
	agg := &statsMerger{onStats: cfg.OnStats, latest: make([]JobStats, len(st))}
	var runners []*runner
	for i, p := range st {
		group := cfg.Group
		if i > 0 {
			group = fmt.Sprintf("%s-%d", cfg.Group, i+1)
		}
		r := &runner{cfg: cfg, plan: p, group: group, job: job.Name, tasks: map[int32]*taskState{}, srcByTopic: map[string]int{}, crash: cfg.crash, avro: codecs}
		if err := r.prepareSink(ctx); err != nil {
			return err
		}
		if NewTask(p, nil).Stateful() {
			r.changelog = ChangelogTopic(job.Name, i+1)
			r.fingerprint = fingerprint(p)
		}
		r.onStats = func(js JobStats) { agg.set(i, js) }
		for _, idx := range usedSources(p) {
			r.srcByTopic[p.Sources[idx].Topic] = idx
			r.topics = append(r.topics, p.Sources[idx].Topic)
		}
		// In order: each stage creates the topic the next one reads.
		if err := r.prepareTopics(ctx); err != nil {
			return err
		}
		runners = append(runners, r)
	}
	if len(runners) == 1 {
		return runners[0].run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(runners))
	for _, r := range runners {
		go func() {
			err := r.run(ctx)
			if err != nil {
				cancel() // one stage failing stops the job
			}
			errs <- err
		}()
	}
	var first error
	for range runners {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// statsMerger combines the stages' totals into the job's.
type statsMerger struct {
	mu      sync.Mutex
	onStats func(JobStats)
	latest  []JobStats
}

func (m *statsMerger) set(i int, js JobStats) {
	if m.onStats == nil {
		return
	}
	m.mu.Lock()
	m.latest[i] = js
	var all JobStats
	for n, s := range m.latest {
		all.Steps = append(all.Steps, s.Steps...)
		if n == 0 {
			all.In = s.In
		}
		if n == len(m.latest)-1 {
			all.Out = s.Out
		}
		all.Late += s.Late
		all.DeadLetters += s.DeadLetters
		all.Lag += s.Lag
		all.StateSize += s.StateSize
		all.ChangelogWrites += s.ChangelogWrites
	}
	m.onStats(all) // under mu: callers see totals in order
	m.mu.Unlock()
}

// run consumes and processes until ctx ends, then commits and leaves.
func (r *runner) run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Bootstrap...),
		kgo.ConsumerGroup(r.group),
		kgo.ConsumeTopics(r.topics...),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(max(r.cfg.CommitInterval, 100*time.Millisecond)), // kgo's minimum
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.AdjustFetchOffsetsFn(r.restore),
		kgo.RecordPartitioner(newPartitioner(r.changelog)),
		kgo.MetadataMinAge(250 * time.Millisecond), // topics this job just created appear quickly
	}, r.cfg.ExtraOpts...)
	if r.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(r.cfg.SessionTimeout),
			kgo.HeartbeatInterval(max(r.cfg.SessionTimeout/10, 100*time.Millisecond)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("streams runner: %w", err)
	}
	r.clMu.Lock()
	r.cl = cl
	r.clMu.Unlock()
	err = r.loop(ctx)
	if r.crash || r.fatal != nil {
		r.mu.Lock()
		r.dead = true // a killed process writes nothing more
		r.mu.Unlock()
		cl.Close()
		return err
	}
	// Commit what was processed and acknowledged before leaving the group;
	// write state only once the outputs are acknowledged.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ferr := cl.Flush(cctx)
	if ferr == nil {
		r.mu.Lock()
		r.writeAllChanges()
		r.mu.Unlock()
		ferr = cl.Flush(cctx)
	}
	if ferr == nil {
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil {
			r.cfg.Logger.Warn("streams: final commit failed", "job", r.job, "err", cerr)
		}
	}
	cl.Close()
	return err
}

type runner struct {
	cfg        RunnerConfig
	plan       *plan.Plan // this stage's
	group      string
	onStats    func(JobStats)
	job        string
	clMu       sync.Mutex
	cl         *kgo.Client // guarded by clMu where callbacks read it
	topics     []string
	srcByTopic map[string]int

	mu    sync.Mutex // guards tasks against the group callbacks
	tasks map[int32]*taskState

	avro      *avroCodecs // nil unless the job uses avro
	sinkValue *avroSink   // set when the sink's value format is avro
	sinkKey   *avroSink   // set when the sink's key format is avro
	fatal     error       // guarded by mu: a registry failure; stop without committing

	changelog   string    // "" for a stateless stage
	fingerprint string    // of this stage's operators; see metaRecord
	lastSnap    time.Time // guarded by mu
	crash       bool      // tests: stop as kill -9 would, without a final state write or commit
	dead        bool      // guarded by mu: crashed, write no state

	produceErr error // first failed produce; guarded by errMu
	errMu      sync.Mutex
	reported   JobStats
	lag        map[string]map[int32]int64
	// stateWrites counts changelog store records written; guarded by mu.
	stateWrites int64
}

type taskState struct {
	task        *Task
	deadLetters int64
	out         []*kgo.Record            // outputs of the record being processed
	outErr      error                    // first output of that record that could not be encoded
	offsets     map[string]int64         // next offset per input topic
	dirty       bool                     // processed since its last state write
	pending     map[string][]*kgo.Record // fetched, not yet processed, per input topic
	emptySince  map[string]time.Time     // when each input's queue last ran dry
}

func (r *runner) newTaskState() *taskState {
	ts := &taskState{offsets: map[string]int64{}, pending: map[string][]*kgo.Record{}, emptySince: map[string]time.Time{}}
	ts.task = NewTask(r.plan, func(rec Record) { r.output(ts, rec) })
	return ts
}

// prepareTopics checks the sources exist and are co-partitioned, and
// creates the sink and dead-letter topics with the first source's count.
func (r *runner) prepareTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Bootstrap...)}, r.cfg.ExtraOpts...)...)
	if err != nil {
		return fmt.Errorf("streams runner: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.ListTopics(ctx, r.topics...)
	if err != nil {
		return fmt.Errorf("streams runner: list topics: %w", err)
	}
	parts := -1
	for _, s := range r.plan.Sources {
		td, ok := md[s.Topic]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: sources: %q reads an %w %q", s.Pos, s.Name, ErrUnknownTopic, s.Topic)
		}
		if td.Err != nil {
			return fmt.Errorf("source %q: topic %q: %w", s.Name, s.Topic, td.Err)
		}
		if parts >= 0 && len(td.Partitions) != parts {
			return fmt.Errorf("source %q: topic %q has %d partitions, %q has %d: joined topics must be co-partitioned",
				s.Name, s.Topic, len(td.Partitions), r.topics[0], parts)
		}
		if parts < 0 {
			parts = len(td.Partitions)
		}
	}
	compact, changelogLag := "compact", "3600000"
	for _, topic := range []string{r.plan.Job.Sink.Topic, r.plan.Job.DeadLetterTopic(), r.changelog} {
		if topic == "" {
			continue
		}
		var configs map[string]*string
		if topic == r.changelog {
			// An entry written after the last meta record by an instance
			// that died must not get its committed value compacted away
			// before a new owner rewrites it (changelog.go): the cleaner
			// leaves records younger than the lag alone.
			configs = map[string]*string{"cleanup.policy": &compact, "min.compaction.lag.ms": &changelogLag}
		}
		resp, err := adm.CreateTopic(ctx, int32(parts), -1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("streams runner: create topic %q: %w", topic, err)
		}
	}
	return nil
}

func (r *runner) assigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ps := range m {
		for _, p := range ps {
			if r.tasks[p] == nil {
				r.tasks[p] = r.newTaskState()
			}
		}
	}
	r.cfg.Logger.Info("streams: partitions assigned", "job", r.job, "assigned", m)
}

// lost partitions may already belong to another member: no state write.
func (r *runner) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ps := range m {
		for _, p := range ps {
			delete(r.tasks, p)
		}
	}
}

func (r *runner) revoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	r.mu.Lock()
	for _, ps := range m {
		for _, p := range ps {
			if ts := r.tasks[p]; ts != nil {
				r.writeChanges(p, ts) // the next owner starts from here
			}
			delete(r.tasks, p)
		}
	}
	r.mu.Unlock()
	if err := cl.Flush(ctx); err != nil {
		r.cfg.Logger.Warn("streams: flush on revoke", "job", r.job, "err", err)
	}
	r.cfg.Logger.Info("streams: partitions revoked", "job", r.job, "revoked", m)
}

// output encodes one task output for the sink topic.
func (r *runner) output(ts *taskState, rec Record) {
	job := r.plan.Job
	kr := &kgo.Record{Topic: job.Sink.Topic, Timestamp: time.UnixMilli(rec.Time)}
	if rec.Key != nil {
		if r.sinkKey != nil {
			k, err := r.sinkKey.encode(rec.Key)
			if err != nil {
				if ts.outErr == nil {
					ts.outErr = fmt.Errorf("output key: %w", err)
				}
				return
			}
			kr.Key = k
		} else {
			kr.Key = []byte(KeyString(rec.Key))
		}
	}
	if rec.Window != nil {
		kr.Headers = []kgo.RecordHeader{
			{Key: "window_start", Value: []byte(strconv.FormatInt(rec.Window.Start, 10))},
			{Key: "window_end", Value: []byte(strconv.FormatInt(rec.Window.End, 10))},
		}
	}
	var v []byte
	var err error
	if r.sinkValue != nil && rec.Value != nil {
		v, err = r.sinkValue.encode(rec.Value)
	} else {
		v, err = EncodeValue(job.Sink.Format, rec.Value)
	}
	if err != nil {
		// An output the sink format cannot hold (a value that does not fit
		// the avro schema) is a run-time failure of the job's expressions:
		// the input record that produced it goes to the dead-letter topic.
		if ts.outErr == nil {
			ts.outErr = fmt.Errorf("output: %w", err)
		}
		return
	}
	kr.Value = v
	ts.out = append(ts.out, kr)
}

func (r *runner) produce(rec *kgo.Record) {
	r.client().Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			r.errMu.Lock()
			if r.produceErr == nil {
				r.produceErr = err
			}
			r.errMu.Unlock()
		}
	})
}

func (r *runner) loop(ctx context.Context) error {
	for {
		// Wake up at least every commit interval to write idle tasks' state.
		wake := r.cfg.CommitInterval
		if r.cfg.MaxTaskIdle > 0 {
			wake = min(wake, r.cfg.MaxTaskIdle)
		}
		pctx, pcancel := context.WithTimeout(ctx, wake)
		fetches := r.cl.PollRecords(pctx, 5000)
		pcancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			r.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				r.cfg.Logger.Warn("streams: fetch error", "job", r.job, "topic", topic, "partition", p, "err", err)
			}
		})
		var done []*kgo.Record
		r.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			last := fp.Records[len(fp.Records)-1]
			r.setLag(fp.Topic, fp.Partition, fp.HighWatermark-last.Offset-1)
			if ts := r.tasks[fp.Partition]; ts != nil { // nil: revoked while fetched
				ts.pending[fp.Topic] = append(ts.pending[fp.Topic], fp.Records...)
			}
		})
		now := time.Now()
		for _, ts := range r.tasks {
			done = r.drain(ts, now, done)
		}
		stats := r.collect()
		fatal := r.fatal
		if fatal != nil {
			r.dead = true // no state write or commit past the failed record
		}
		r.mu.Unlock()
		if fatal != nil {
			r.cl.AllowRebalance()
			return fmt.Errorf("streams job %q: %w", r.job, fatal)
		}
		// At least once: mark only after every output is acknowledged.
		if err := r.cl.Flush(ctx); err != nil {
			r.cl.AllowRebalance()
			return nil // ctx ended; unmarked records are read again
		}
		r.errMu.Lock()
		perr := r.produceErr
		r.errMu.Unlock()
		if perr != nil {
			r.cl.AllowRebalance()
			return fmt.Errorf("streams job %q: produce: %w", r.job, perr)
		}
		// State writes only cover records whose outputs are acknowledged, so a
		// restored task never skips an output that was not written.
		r.mu.Lock()
		if time.Since(r.lastSnap) >= r.cfg.CommitInterval {
			r.writeAllChanges()
		}
		r.mu.Unlock()
		r.cl.MarkCommitRecords(done...)
		r.cl.AllowRebalance()
		r.report(stats)
	}
}

// client is the group client; the group callbacks may run before run()
// has stored it, but never produce before it exists.
func (r *runner) client() *kgo.Client {
	r.clMu.Lock()
	defer r.clMu.Unlock()
	return r.cl
}

func (r *runner) setLag(topic string, p int32, lag int64) {
	if r.lag == nil {
		r.lag = map[string]map[int32]int64{}
	}
	if r.lag[topic] == nil {
		r.lag[topic] = map[int32]int64{}
	}
	r.lag[topic][p] = max(lag, 0)
}

// drain processes a task's fetched records, interleaving its partitions
// by record timestamp as Kafka Streams picks the partition whose head is
// oldest; each partition keeps its offset order. With MaxTaskIdle, a task
// whose other partition has nothing fetched waits up to that long for it
// (Kafka Streams' max.task.idle.ms) so that joins see both sides in time
// order. It appends the processed records to done.
func (r *runner) drain(ts *taskState, now time.Time, done []*kgo.Record) []*kgo.Record {
	idle := r.cfg.MaxTaskIdle > 0 && len(r.topics) > 1
	for {
		best, blocked := "", false
		for _, topic := range r.topics {
			q := ts.pending[topic]
			if len(q) == 0 {
				if idle {
					since, ok := ts.emptySince[topic]
					if !ok {
						ts.emptySince[topic], since = now, now
					}
					if now.Sub(since) < r.cfg.MaxTaskIdle {
						blocked = true
					}
				}
				continue
			}
			if best == "" || q[0].Timestamp.Before(ts.pending[best][0].Timestamp) {
				best = topic
			}
		}
		if best == "" || blocked || r.fatal != nil {
			return done
		}
		rec := ts.pending[best][0]
		ts.pending[best] = ts.pending[best][1:]
		if len(ts.pending[best]) == 0 {
			ts.pending[best] = nil
			ts.emptySince[best] = now
		}
		r.processOne(ts, rec)
		done = append(done, rec)
	}
}

func (r *runner) processOne(ts *taskState, kr *kgo.Record) {
	src, ok := r.srcByTopic[kr.Topic]
	if !ok {
		return
	}
	s := r.plan.Sources[src]
	ts.out, ts.outErr = ts.out[:0], nil
	ts.offsets[kr.Topic] = kr.Offset + 1
	ts.dirty = true
	err := func() error {
		key, err := r.decodeKey(s, kr.Key)
		if err != nil {
			return err
		}
		val, err := r.decodeValue(s, kr.Value)
		if err != nil {
			return err
		}
		et, err := EventTime(s, val, kr.Timestamp.UnixMilli())
		if err != nil {
			return err
		}
		return ts.task.Process(src, Record{Key: key, Value: val, Time: et})
	}()
	if errors.Is(err, ErrRegistry) {
		r.fatal = err // not the record's fault: stop, and read it again after the restart
		return
	}
	for _, o := range ts.out {
		r.produce(o)
	}
	if err == nil {
		err = ts.outErr
	}
	if err != nil {
		ts.deadLetters++
		r.deadLetter(kr, err)
	}
}

func (r *runner) deadLetter(kr *kgo.Record, cause error) {
	dl := &kgo.Record{
		Topic:     r.plan.Job.DeadLetterTopic(),
		Key:       kr.Key,
		Value:     kr.Value,
		Timestamp: kr.Timestamp,
		Headers: append(append([]kgo.RecordHeader(nil), kr.Headers...),
			kgo.RecordHeader{Key: HeaderError, Value: []byte(cause.Error())},
			kgo.RecordHeader{Key: HeaderTopic, Value: []byte(kr.Topic)},
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(kr.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(kr.Offset, 10))},
		),
	}
	r.cfg.Logger.Debug("streams: record to dead-letter topic", "job", r.job, "topic", kr.Topic,
		"partition", kr.Partition, "offset", kr.Offset, "err", cause)
	r.produce(dl)
}

// collect sums the tasks' counters; callers hold r.mu.
func (r *runner) collect() JobStats {
	p := r.plan
	js := JobStats{Steps: make([]StepStats, len(p.Ops))}
	for i, op := range p.Ops {
		idx := plan.StepIndex(op)
		js.Steps[i].Step = fmt.Sprintf("steps[%d].%s", idx, p.Job.Steps[idx].Kind)
	}
	for _, ts := range r.tasks {
		s := ts.task.Stats()
		js.In += s.In
		js.Out += s.Out
		js.Late += s.Late
		js.DeadLetters += ts.deadLetters
		js.StateSize += ts.task.StateSize()
		for i, n := range s.StepIn {
			js.Steps[i].In += n
			if i+1 < len(s.StepIn) {
				js.Steps[i].Out += s.StepIn[i+1]
			} else {
				js.Steps[i].Out += s.Out
			}
		}
	}
	for _, ps := range r.lag {
		for _, l := range ps {
			js.Lag += l
		}
	}
	js.ChangelogWrites = r.stateWrites
	return js
}

// report turns totals into metric increments. Totals drop when a task is
// revoked; counters then resume from the new totals without going back.
func (r *runner) report(js JobStats) {
	if m := r.cfg.Metrics; m != nil {
		prev := r.reported
		for i, st := range js.Steps {
			var before int64
			if i < len(prev.Steps) {
				before = prev.Steps[i].In
			}
			if d := st.In - before; d > 0 {
				m.StepIn.WithLabelValues(r.job, st.Step).Add(float64(d))
			}
			before = 0
			if i < len(prev.Steps) {
				before = prev.Steps[i].Out
			}
			if d := st.Out - before; d > 0 {
				m.StepOut.WithLabelValues(r.job, st.Step).Add(float64(d))
			}
		}
		add := func(c interface{ Add(float64) }, now, before int64) {
			if d := now - before; d > 0 {
				c.Add(float64(d))
			}
		}
		if r.plan.Job.Sink.Topic == r.cfg.Plan.Job.Sink.Topic { // not a repartition stage
			add(m.Out.WithLabelValues(r.job), js.Out, prev.Out)
		}
		add(m.Late.WithLabelValues(r.job), js.Late, prev.Late)
		add(m.DeadLetters.WithLabelValues(r.job), js.DeadLetters, prev.DeadLetters)
		add(m.ChangelogWrites.WithLabelValues(r.job), js.ChangelogWrites, prev.ChangelogWrites)
		m.Lag.WithLabelValues(r.job).Set(float64(js.Lag))
		m.StateSize.WithLabelValues(r.job).Set(float64(js.StateSize))
	}
	r.reported = js
	r.onStats(js)
}
