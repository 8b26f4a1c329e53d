// Package streams is Sluice's stream processor: YAML jobs (package spec)
// compiled to operators (package plan) and run per input partition
// (package runtime). Engine is the long-running part: it keeps every job
// definition in a compacted Kafka topic so that all instances see the same
// jobs, serves the job API, and runs each job that is not paused. It talks
// to Kafka only through franz-go.
package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/runtime"
	"github.com/sluicehq/sluice/streams/spec"
)

// DefaultJobsTopic holds job definitions: key job name, value a JSON
// StoredJob, a tombstone for a deleted job.
const DefaultJobsTopic = "_sluice_streams_jobs"

// RunFunc runs one job until ctx ends or the job fails. The engine calls
// it in a goroutine it owns, once per running job per instance; instances
// share a job's partitions through the consumer group named group.
type RunFunc func(ctx context.Context, p *plan.Plan, group string, status *JobStatus) error

// Config configures an Engine.
type Config struct {
	Bootstrap  []string
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are not registered
	JobsTopic  string                // default DefaultJobsTopic
	// ClientOpts are extra franz-go options (TLS, SASL, client id).
	ClientOpts []kgo.Opt
	// Run executes a job; nil uses the Kafka runner of package runtime
	// (see runner.go).
	Run RunFunc
	// CommitInterval is how often runners commit offsets (at least once);
	// 0 means the runner's default (1s).
	CommitInterval time.Duration
	// RetryBackoff is how long a failed job waits before it is restarted;
	// default 5s.
	RetryBackoff time.Duration
	// Registry is the schema registry URL for jobs with avro keys or
	// values that do not name their own `registry`.
	Registry string
	// SessionTimeout is the runners' consumer group session timeout (how
	// soon a vanished instance's tasks move); 0: kgo's default (45s). A
	// job's `session_timeout` takes precedence.
	SessionTimeout time.Duration
	// CleanupTimeout bounds how long Delete waits for every instance to
	// leave the job's consumer groups before it deletes its internal
	// topics; default 30s.
	CleanupTimeout time.Duration
}

// StoredJob is a job definition as kept in the jobs topic.
type StoredJob struct {
	Name    string    `json:"name"`
	Spec    string    `json:"spec"` // the YAML (or JSON) as applied
	Paused  bool      `json:"paused"`
	Version int64     `json:"version"`
	Updated time.Time `json:"updated"`
}

// JobStatus is what a running job reports; safe for concurrent use.
type JobStatus struct {
	mu        sync.Mutex
	state     string
	err       string
	steps     []StepStats
	late      int64
	dead      int64
	lag       int64
	stateSize int64
}

// StepStats counts records into and out of one step.
type StepStats struct {
	Step string `json:"step"`
	In   int64  `json:"in"`
	Out  int64  `json:"out"`
}

// Report replaces the job's counters; runners call it periodically.
func (s *JobStatus) Report(steps []StepStats, late, deadLetters, lag, stateSize int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps[:0], steps...)
	s.late, s.dead, s.lag, s.stateSize = late, deadLetters, lag, stateSize
}

func (s *JobStatus) set(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
	s.err = ""
	if err != nil {
		s.err = err.Error()
	}
}

// JobInfo is a job as the API shows it.
type JobInfo struct {
	Name        string      `json:"name"`
	Status      string      `json:"status"` // running, paused, failed, stopped
	Error       string      `json:"error,omitempty"`
	Version     int64       `json:"version"`
	Updated     time.Time   `json:"updated"`
	Spec        string      `json:"spec,omitempty"`
	Steps       []StepStats `json:"steps,omitempty"`
	Late        int64       `json:"late_dropped"`
	DeadLetters int64       `json:"dead_letters"`
	Lag         int64       `json:"lag"`
	StateSize   int64       `json:"state_size"`
}

type jobEntry struct {
	stored StoredJob
	plan   *plan.Plan
	status *JobStatus
	cancel context.CancelFunc // nil when not running here
	done   chan struct{}
}

// Engine runs stream jobs. Create with New, start with Run.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	client  *kgo.Client
	admin   *kadm.Client
	metrics *engineMetrics

	mu   sync.Mutex
	jobs map[string]*jobEntry
	// deleted holds the last version of each deleted job, so that a replay
	// of an older definition from the jobs topic cannot resurrect it.
	deleted map[string]int64
	// progress is the next offset the consumer will apply, per partition of
	// the jobs topic; progressCh is closed and replaced when it moves.
	progress   map[int32]int64
	progressCh chan struct{}
	consuming  bool
	runCtx     context.Context // set while Run runs; jobs start under it
	wg         sync.WaitGroup
	readyCh    chan struct{} // closed once the jobs topic has been read to its end

	topicReady atomic.Bool // the jobs topic is known to exist
}

// New checks cfg and connects a client; it does not start anything.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("streams: no bootstrap brokers")
	}
	if cfg.JobsTopic == "" {
		cfg.JobsTopic = DefaultJobsTopic
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 5 * time.Second
	}
	if cfg.CleanupTimeout <= 0 {
		cfg.CleanupTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Run == nil {
		m, err := runtime.NewMetrics(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("streams: %w", err)
		}
		cfg.Run = defaultRun(cfg, log, m)
	}
	// No auto-creation: checking that a source topic exists must not create it
	// on a broker with auto.create.topics.enable; the jobs topic is created explicitly.
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...)}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("streams: %w", err)
	}
	e := &Engine{cfg: cfg, log: log, client: cl, admin: kadm.NewClient(cl), jobs: map[string]*jobEntry{}, deleted: map[string]int64{}, progress: map[int32]int64{}, progressCh: make(chan struct{}), readyCh: make(chan struct{})}
	e.metrics = newEngineMetrics(cfg.Registerer, e)
	return e, nil
}

// Close releases the client. Call after Run has returned.
func (e *Engine) Close() error {
	e.metrics.unregister()
	e.client.Close()
	return nil
}

// Run reads the jobs topic and runs jobs until ctx ends; it stops every job
// before returning.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.ensureJobsTopic(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	e.mu.Lock()
	e.runCtx = ctx
	for _, ent := range e.jobs { // applied through this engine before Run
		if ent.plan != nil && !ent.stored.Paused && ent.cancel == nil {
			e.startLocked(ent)
		}
	}
	e.mu.Unlock()
	defer e.stopAll()

	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(e.cfg.Bootstrap...),
		kgo.ConsumeTopics(e.cfg.JobsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, e.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	defer cl.Close()
	e.setProgress(-1, 0, true)
	defer e.setProgress(-1, 0, false)
	end, err := e.jobsEnd(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	seen := map[int32]int64{}
	ready := func() bool {
		for p, o := range end {
			if seen[p] < o {
				return false
			}
		}
		return true
	}
	if ready() {
		close(e.readyCh)
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			e.log.Warn("reading jobs topic", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			seen[r.Partition] = r.Offset + 1
			e.applyRecord(r)
			e.setProgress(r.Partition, r.Offset+1, true)
		})
		select {
		case <-e.readyCh:
		default:
			if ready() {
				close(e.readyCh)
			}
		}
	}
}

// Ready is closed once the engine has read every job definition that
// existed when Run started.
func (e *Engine) Ready() <-chan struct{} { return e.readyCh }

func (e *Engine) jobsEnd(ctx context.Context) (map[int32]int64, error) {
	ends, err := e.admin.ListEndOffsets(ctx, e.cfg.JobsTopic)
	if err != nil {
		return nil, fmt.Errorf("streams: listing jobs topic offsets: %w", err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out, nil
}

func (e *Engine) ensureJobsTopic(ctx context.Context) error {
	if e.topicReady.Load() {
		return nil
	}
	compact := "compact"
	resp, err := e.admin.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, e.cfg.JobsTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("streams: creating jobs topic %s: %w", e.cfg.JobsTopic, err)
	}
	e.topicReady.Store(true)
	return nil
}

// applyRecord folds one jobs-topic record into the job table and starts
// or stops the job's runner to match.
func (e *Engine) applyRecord(r *kgo.Record) {
	name := string(r.Key)
	if r.Value == nil {
		e.remove(name)
		return
	}
	var sj StoredJob
	if err := json.Unmarshal(r.Value, &sj); err != nil || sj.Name != name {
		e.log.Warn("ignoring malformed job definition", "job", name, "offset", r.Offset, "err", err)
		return
	}
	e.upsert(sj)
}

func (e *Engine) upsert(sj StoredJob) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sj.Version <= e.deleted[sj.Name] {
		return // a replay of a definition deleted since
	}
	old := e.jobs[sj.Name]
	if old != nil && old.stored.Version > sj.Version {
		return // a replay of an older definition
	}
	if old != nil && old.stored.Version == sj.Version && old.stored.Paused == sj.Paused {
		return
	}
	job, err := spec.Parse(sj.Name+".yaml", []byte(sj.Spec))
	var p *plan.Plan
	if err == nil {
		p, err = plan.Compile(sj.Name+".yaml", job)
	}
	ent := &jobEntry{stored: sj, plan: p, status: &JobStatus{}}
	if old != nil {
		e.stopLocked(old)
		if old.plan != nil && p != nil && old.stored.Spec == sj.Spec {
			ent.status = old.status // a pause/resume keeps counters
		}
	}
	e.jobs[sj.Name] = ent
	switch {
	case err != nil:
		ent.status.set("failed", err)
	case sj.Paused:
		ent.status.set("paused", nil)
	default:
		e.startLocked(ent)
	}
}

func (e *Engine) remove(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ent := e.jobs[name]; ent != nil {
		e.stopLocked(ent)
		delete(e.jobs, name)
		e.deleted[name] = max(e.deleted[name], ent.stored.Version)
	}
}

// startLocked starts ent's runner under the Run context. e.mu is held.
func (e *Engine) startLocked(ent *jobEntry) {
	if e.runCtx == nil || e.runCtx.Err() != nil {
		ent.status.set("stopped", nil)
		return
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	ent.cancel, ent.done = cancel, make(chan struct{})
	ent.status.set("running", nil)
	group := "sluice-streams-" + ent.stored.Name // as runtime names it; docs/streams.md
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(ent.done)
		for {
			err := e.cfg.Run(ctx, ent.plan, group, ent.status)
			if ctx.Err() != nil {
				return
			}
			e.log.Error("stream job failed; restarting", "job", ent.stored.Name, "err", err, "backoff", e.cfg.RetryBackoff)
			ent.status.set("failed", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(e.cfg.RetryBackoff):
			}
			ent.status.set("running", nil)
		}
	}()
}

// stopLocked cancels ent's runner and waits for it. e.mu is held; runners
// never take e.mu, so waiting here cannot deadlock.
func (e *Engine) stopLocked(ent *jobEntry) {
	if ent.cancel == nil {
		return
	}
	ent.cancel()
	<-ent.done
	ent.cancel = nil
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	for _, ent := range e.jobs {
		e.stopLocked(ent)
		if ent.plan != nil && !ent.stored.Paused {
			ent.status.set("stopped", nil)
		}
	}
	e.runCtx = nil
	e.mu.Unlock()
	e.wg.Wait()
}

// Jobs lists every job, sorted by name.
func (e *Engine) Jobs() []JobInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]JobInfo, 0, len(e.jobs))
	for _, ent := range e.jobs {
		out = append(out, ent.info(false))
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

// Job describes one job.
func (e *Engine) Job(name string) (JobInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.jobs[name]
	if !ok {
		return JobInfo{}, false
	}
	return ent.info(true), true
}

func (ent *jobEntry) info(full bool) JobInfo {
	s := ent.status
	s.mu.Lock()
	defer s.mu.Unlock()
	ji := JobInfo{Name: ent.stored.Name, Status: s.state, Error: s.err, Version: ent.stored.Version, Updated: ent.stored.Updated,
		Late: s.late, DeadLetters: s.dead, Lag: s.lag, StateSize: s.stateSize}
	if full {
		ji.Spec = ent.stored.Spec
		ji.Steps = append([]StepStats(nil), s.steps...)
	}
	return ji
}

// ErrNotFound is returned for a job that does not exist.
var ErrNotFound = errors.New("job not found")

// Apply validates a job definition and stores it in the jobs topic. A
// validation failure is a spec.Errors.
func (e *Engine) Apply(ctx context.Context, data []byte) (JobInfo, error) {
	job, err := spec.Parse("job.yaml", data)
	if err != nil {
		return JobInfo{}, err
	}
	if _, err := plan.Compile("job.yaml", job); err != nil {
		return JobInfo{}, err
	}
	if job.UsesAvro() && job.Registry == "" && e.cfg.Registry == "" {
		return JobInfo{}, spec.Errors{{File: "job.yaml", Pos: job.Pos, Path: "registry",
			Msg: "the job uses avro but no schema registry is configured: set `registry: http://host:8081`"}}
	}
	if err := e.checkTopics(ctx, job); err != nil {
		return JobInfo{}, err
	}
	e.mu.Lock()
	version := e.deleted[job.Name] + 1
	paused := false
	if old := e.jobs[job.Name]; old != nil {
		version = old.stored.Version + 1
		paused = old.stored.Paused
	}
	e.mu.Unlock()
	sj := StoredJob{Name: job.Name, Spec: string(data), Paused: paused, Version: version, Updated: time.Now().UTC()}
	if err := e.store(ctx, sj); err != nil {
		return JobInfo{}, err
	}
	ji, _ := e.Job(job.Name)
	return ji, nil
}

// checkTopics reports source topics that do not exist, at their position.
func (e *Engine) checkTopics(ctx context.Context, job *spec.Job) error {
	topics := make([]string, 0, len(job.Sources))
	for _, s := range job.Sources {
		topics = append(topics, s.Topic)
	}
	md, err := e.admin.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("streams: checking topics: %w", err)
	}
	var errs spec.Errors
	for i, s := range job.Sources {
		if d, ok := md[s.Topic]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, &spec.Error{File: "job.yaml", Pos: s.TopicPos, Path: fmt.Sprintf("sources[%d].topic", i),
				Msg: fmt.Sprintf("unknown topic %q: %v", s.Topic, kerr.UnknownTopicOrPartition)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SetPaused pauses or resumes a job on every instance.
func (e *Engine) SetPaused(ctx context.Context, name string, paused bool) (JobInfo, error) {
	e.mu.Lock()
	ent, ok := e.jobs[name]
	var sj StoredJob
	if ok {
		sj = ent.stored
	}
	e.mu.Unlock()
	if !ok {
		return JobInfo{}, ErrNotFound
	}
	sj.Paused = paused
	sj.Version++
	sj.Updated = time.Now().UTC()
	if err := e.store(ctx, sj); err != nil {
		return JobInfo{}, err
	}
	ji, _ := e.Job(name)
	return ji, nil
}

// Delete removes a job on every instance, then its consumer groups and
// internal topics (repartition and changelog; the sink and dead-letter
// topics stay), once every instance has left the groups or
// Config.CleanupTimeout has passed.
func (e *Engine) Delete(ctx context.Context, name string) error {
	e.mu.Lock()
	ent, ok := e.jobs[name]
	var p *plan.Plan
	if ok {
		p = ent.plan
	}
	e.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	rec := &kgo.Record{Topic: e.cfg.JobsTopic, Key: []byte(name)}
	if err := e.client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("streams: deleting job: %w", err)
	}
	if !e.waitApplied(ctx, rec.Partition, rec.Offset) {
		e.remove(name)
	}
	if p == nil {
		return nil // never compiled, never ran
	}
	return e.cleanup(ctx, p)
}

// cleanup deletes a deleted job's consumer groups and internal topics. A
// group still has members while other instances stop the job; deleting
// the topics before they leave could let a last changelog write recreate
// one, so it waits for the groups to empty first.
func (e *Engine) cleanup(ctx context.Context, p *plan.Plan) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CleanupTimeout)
	defer cancel()
	groups := runtime.Groups(p, "sluice-streams-"+p.Job.Name)
	for len(groups) > 0 {
		resp, err := e.admin.DeleteGroups(ctx, groups...)
		var busy []string
		if err == nil {
			for g, r := range resp {
				switch {
				case r.Err == nil, errors.Is(r.Err, kerr.GroupIDNotFound):
				case errors.Is(r.Err, kerr.NonEmptyGroup), errors.Is(r.Err, kerr.CoordinatorLoadInProgress),
					errors.Is(r.Err, kerr.NotCoordinator), errors.Is(r.Err, kerr.CoordinatorNotAvailable):
					busy = append(busy, g)
				default:
					e.log.Warn("deleting job group", "job", p.Job.Name, "group", g, "err", r.Err)
				}
			}
		}
		groups = busy
		if len(groups) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			e.log.Warn("job deleted but instances still in its groups; deleting its topics anyway", "job", p.Job.Name, "groups", groups)
			groups = nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer dcancel()
	resp, err := e.admin.DeleteTopics(dctx, runtime.InternalTopics(p)...)
	if err != nil {
		return fmt.Errorf("streams: deleting internal topics of %q: %w", p.Job.Name, err)
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("streams: deleting topic %q of job %q: %w", r.Topic, p.Job.Name, r.Err)
		}
	}
	return nil
}

// waitApplied waits until the jobs-topic consumer has applied the record
// at partition/offset, so that a caller reads its own write and every
// change is applied in topic order. It reports false if Run is not
// consuming (or ctx ended); the caller then applies the change itself.
func (e *Engine) waitApplied(ctx context.Context, partition int32, offset int64) bool {
	for {
		e.mu.Lock()
		consuming, done, ch := e.consuming, e.progress[partition] > offset, e.progressCh
		e.mu.Unlock()
		if done {
			return true
		}
		if !consuming {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// setProgress records how far the consumer has applied the jobs topic and
// wakes waitApplied callers.
func (e *Engine) setProgress(partition int32, next int64, consuming bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if partition >= 0 {
		e.progress[partition] = next
	}
	e.consuming = consuming
	close(e.progressCh)
	e.progressCh = make(chan struct{})
}

// store writes sj to the jobs topic and returns once it is applied here.
func (e *Engine) store(ctx context.Context, sj StoredJob) error {
	if err := e.ensureJobsTopic(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(sj)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: e.cfg.JobsTopic, Key: []byte(sj.Name), Value: b}
	if err := e.client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("streams: storing job: %w", err)
	}
	if !e.waitApplied(ctx, rec.Partition, rec.Offset) {
		e.upsert(sj)
	}
	return nil
}
