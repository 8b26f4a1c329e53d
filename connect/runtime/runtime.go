// Package runtime runs Kafka Connect-compatible connectors and tasks on one
// worker: it builds converters and transform chains from a connector's
// configuration, moves records between tasks and Kafka (through franz-go
// only), keeps source offsets in connect-offsets, consumes for sink tasks in
// group connect-<name>, and applies errors.tolerance and the dead letter
// queue. Which connectors and tasks run here is the herder's decision.
package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Kafka Connect's state names.
const (
	StateUnassigned = "UNASSIGNED"
	StateRunning    = "RUNNING"
	StatePaused     = "PAUSED"
	StateStopped    = "STOPPED"
	StateFailed     = "FAILED"
)

// TaskID names a task: connector and index.
type TaskID struct {
	Connector string
	Task      int
}

func (id TaskID) String() string { return fmt.Sprintf("%s-%d", id.Connector, id.Task) }

// Config is what a Runtime needs.
type Config struct {
	// Seeds reach Kafka; sink tasks build their own consumer clients.
	Seeds []string
	// Producer is the worker's shared producing client (source records,
	// offsets, dead letter queue). It must allow topic auto-creation or the
	// topics must exist.
	Producer *kgo.Client
	// OffsetsTopic holds source offsets (connect-offsets).
	OffsetsTopic string
	// Log is used for everything when Loggers is nil; with Loggers, each
	// part logs under its Kafka Connect logger name.
	Log     *slog.Logger
	Loggers *Loggers
	// OnStatus reports state changes; task is -1 for the connector itself.
	OnStatus func(connector string, task int, state, trace string)
	// OnTopics reports topics a task produced to or consumed from (per
	// batch; the herder keeps Kafka Connect's active-topic records).
	OnTopics   func(connector string, task int, topics []string)
	Registerer prometheus.Registerer
}

// Runtime runs connectors and tasks. Its methods are safe for concurrent use.
type Runtime struct {
	cfg                     Config
	metrics                 *metrics
	srcLog, sinkLog, errLog *slog.Logger

	mu         sync.Mutex
	connectors map[string]plugin.Connector
	tasks      map[TaskID]*runningTask
}

type runningTask struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns an idle runtime.
func New(cfg Config) *Runtime {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnStatus == nil {
		cfg.OnStatus = func(string, int, string, string) {}
	}
	if cfg.OnTopics == nil {
		cfg.OnTopics = func(string, int, []string) {}
	}
	if cfg.OffsetsTopic == "" {
		cfg.OffsetsTopic = "connect-offsets"
	}
	rt := &Runtime{cfg: cfg, metrics: newMetrics(cfg.Registerer), connectors: map[string]plugin.Connector{}, tasks: map[TaskID]*runningTask{},
		srcLog: cfg.Log, sinkLog: cfg.Log, errLog: cfg.Log}
	if l := cfg.Loggers; l != nil {
		rt.cfg.Log = l.Logger(LoggerWorker)
		rt.srcLog, rt.sinkLog, rt.errLog = l.Logger(LoggerSourceTask), l.Logger(LoggerSinkTask), l.Logger(LoggerErrors)
	}
	return rt
}

// StartConnector creates and starts the connector instance of name. A
// failure is reported as FAILED and returned.
func (rt *Runtime) StartConnector(name string, cfg map[string]string) error {
	rt.StopConnector(name)
	c, err := startConnector(cfg)
	if err != nil {
		rt.cfg.OnStatus(name, -1, StateFailed, err.Error())
		return err
	}
	rt.mu.Lock()
	rt.connectors[name] = c
	rt.mu.Unlock()
	rt.cfg.OnStatus(name, -1, StateRunning, "")
	return nil
}

func startConnector(cfg map[string]string) (c plugin.Connector, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector panicked: %v\n%s", r, debug.Stack())
		}
	}()
	p, err := plugin.Lookup(cfg["connector.class"])
	if err != nil {
		return nil, err
	}
	c = p.New()
	if err := c.Start(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// TaskConfigs asks the running connector for its task configurations,
// bounded by tasks.max.
func (rt *Runtime) TaskConfigs(name string, maxTasks int) ([]map[string]string, error) {
	rt.mu.Lock()
	c := rt.connectors[name]
	rt.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("connector %s is not running on this worker", name)
	}
	if maxTasks < 1 {
		maxTasks = 1
	}
	tcs, err := c.TaskConfigs(maxTasks)
	if err != nil {
		return nil, err
	}
	if len(tcs) > maxTasks {
		tcs = tcs[:maxTasks]
	}
	return tcs, nil
}

// StopConnector stops the connector instance of name if it runs here.
func (rt *Runtime) StopConnector(name string) {
	rt.mu.Lock()
	c := rt.connectors[name]
	delete(rt.connectors, name)
	rt.mu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			rt.cfg.Log.Warn("connect: stopping connector", "connector", name, "err", err)
		}
	}
}

// StartTask starts task id with its connector's configuration (for
// converters, transforms, errors settings) and its own task configuration.
// Setup errors are reported as FAILED and returned.
func (rt *Runtime) StartTask(id TaskID, connCfg, taskCfg map[string]string) error {
	rt.StopTask(id)
	t, err := rt.newTask(id, connCfg, taskCfg)
	if err != nil {
		rt.cfg.OnStatus(id.Connector, id.Task, StateFailed, err.Error())
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rtk := &runningTask{cancel: cancel, done: make(chan struct{})}
	rt.mu.Lock()
	rt.tasks[id] = rtk
	rt.mu.Unlock()
	rt.metrics.running.WithLabelValues(id.Connector).Inc()
	go func() {
		defer close(rtk.done)
		defer rt.metrics.running.WithLabelValues(id.Connector).Dec()
		// RUNNING is reported once the task's Start has returned, as
		// Kafka Connect's WorkerTask reports onStartup.
		err := runProtected(ctx, t, func() { rt.cfg.OnStatus(id.Connector, id.Task, StateRunning, "") })
		if err != nil && ctx.Err() == nil {
			rt.cfg.Log.Error("connect: task failed", "task", id.String(), "err", err)
			rt.metrics.taskFailures.WithLabelValues(id.Connector).Inc()
			rt.cfg.OnStatus(id.Connector, id.Task, StateFailed, err.Error())
		}
	}()
	return nil
}

// runProtected runs a task, turning a panic into a failure with its stack.
func runProtected(ctx context.Context, t taskRunner, started func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return t.run(ctx, started)
}

// StopTask stops task id if it runs here and waits for it to finish
// (sinks flush and commit, sources commit their offsets).
func (rt *Runtime) StopTask(id TaskID) {
	rt.mu.Lock()
	t := rt.tasks[id]
	delete(rt.tasks, id)
	rt.mu.Unlock()
	if t != nil {
		t.cancel()
		<-t.done
	}
}

// StopTasks stops several tasks at once: all are told to stop first, then
// each is waited for, so a worker draining many tasks takes as long as the
// slowest one rather than their sum.
func (rt *Runtime) StopTasks(ids []TaskID) {
	var stopping []*runningTask
	rt.mu.Lock()
	for _, id := range ids {
		if t := rt.tasks[id]; t != nil {
			delete(rt.tasks, id)
			stopping = append(stopping, t)
		}
	}
	rt.mu.Unlock()
	for _, t := range stopping {
		t.cancel()
	}
	for _, t := range stopping {
		<-t.done
	}
}

// Tasks lists the tasks running here.
func (rt *Runtime) Tasks() []TaskID {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]TaskID, 0, len(rt.tasks))
	for id := range rt.tasks {
		out = append(out, id)
	}
	return out
}

// Connectors lists the connectors running here.
func (rt *Runtime) Connectors() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]string, 0, len(rt.connectors))
	for n := range rt.connectors {
		out = append(out, n)
	}
	return out
}

// Close stops everything.
func (rt *Runtime) Close() {
	rt.StopTasks(rt.Tasks())
	for _, n := range rt.Connectors() {
		rt.StopConnector(n)
	}
}

type taskRunner interface {
	// run starts the plugin task, calls started once its Start returned
	// without error, and runs until ctx ends or the task fails.
	run(ctx context.Context, started func()) error
}
