package runtime

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metrics are the runtime's Prometheus series, per connector.
type metrics struct {
	polled, written, read, put *prometheus.CounterVec
	errs, dlq                  *prometheus.CounterVec
	taskFailures               *prometheus.CounterVec
	commitFailures             *prometheus.CounterVec
	running                    *prometheus.GaugeVec
	commitLatency              *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "connect", Name: name, Help: help}, []string{"connector"})
	}
	m := &metrics{
		polled:         counter("source_records_polled_total", "Records polled from source tasks."),
		written:        counter("source_records_written_total", "Source records acknowledged by Kafka."),
		read:           counter("sink_records_read_total", "Records consumed from Kafka for sink tasks."),
		put:            counter("sink_records_put_total", "Records put to sink tasks (after transforms and filters)."),
		errs:           counter("record_errors_total", "Records that failed conversion or transformation."),
		dlq:            counter("dlq_records_total", "Records written to a dead letter queue."),
		taskFailures:   counter("task_failures_total", "Tasks that went FAILED."),
		commitFailures: counter("offset_commit_failures_total", "Offset commits that failed."),
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "connect", Name: "offset_commit_seconds",
			Help: "Time to commit offsets (source: connect-offsets write; sink: flush, pre-commit and group commit).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"connector"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "connect", Name: "tasks_running", Help: "Tasks running on this worker."}, []string{"connector"}),
	}
	if reg == nil {
		return m
	}
	// A second runtime on the same registry (tests, several workers in one
	// process) shares the first one's series.
	for _, c := range []**prometheus.CounterVec{&m.polled, &m.written, &m.read, &m.put, &m.errs, &m.dlq, &m.taskFailures, &m.commitFailures} {
		*c = register(reg, *c)
	}
	m.commitLatency = register(reg, m.commitLatency)
	m.running = register(reg, m.running)
	return m
}

// register registers c, or returns the collector already registered in its
// place.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

// sawTopics reports the distinct topics of a batch.
func (rt *Runtime) sawTopics(id TaskID, recs []*kgo.Record) {
	var topics []string
	for _, r := range recs {
		seen := false
		for _, t := range topics {
			if t == r.Topic {
				seen = true
				break
			}
		}
		if !seen {
			topics = append(topics, r.Topic)
		}
	}
	rt.cfg.OnTopics(id.Connector, id.Task, topics)
}
