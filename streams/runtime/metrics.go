package runtime

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runner's Prometheus metrics, labelled by job, shared by
// every job of one engine.
type Metrics struct {
	StepIn      *prometheus.CounterVec // job, step
	StepOut     *prometheus.CounterVec // job, step
	Out         *prometheus.CounterVec // job
	Late        *prometheus.CounterVec // job
	DeadLetters *prometheus.CounterVec // job
	Lag         *prometheus.GaugeVec   // job
	StateSize   *prometheus.GaugeVec   // job
	// ChangelogWrites counts store entries written to changelog topics.
	ChangelogWrites *prometheus.CounterVec // job
}

// NewMetrics creates the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		StepIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_step_records_in_total",
			Help: "Records that entered a job step."}, []string{"job", "step"}),
		StepOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_step_records_out_total",
			Help: "Records a job step passed on."}, []string{"job", "step"}),
		Out: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_records_out_total",
			Help: "Records a job wrote to its sink topic."}, []string{"job"}),
		Late: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_late_records_dropped_total",
			Help: "Records dropped because their window had closed (per window for hopping windows)."}, []string{"job"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_dead_letters_total",
			Help: "Records sent to the dead-letter topic."}, []string{"job"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_streams_lag_records",
			Help: "Records behind the high watermark, summed over this instance's input partitions."}, []string{"job"}),
		ChangelogWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_streams_changelog_records_total",
			Help: "State store entries (and tombstones) written to changelog topics."}, []string{"job"}),
		StateSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_streams_state_entries",
			Help: "Windows, sessions, join buffers and table rows held by this instance."}, []string{"job"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	// A second engine on the same registry shares the first one's vectors.
	if m.StepIn, err = register(reg, m.StepIn); err != nil {
		return nil, err
	}
	for _, c := range []**prometheus.CounterVec{&m.StepOut, &m.Out, &m.Late, &m.DeadLetters, &m.ChangelogWrites} {
		if *c, err = register(reg, *c); err != nil {
			return nil, err
		}
	}
	for _, g := range []**prometheus.GaugeVec{&m.Lag, &m.StateSize} {
		if *g, err = register(reg, *g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
