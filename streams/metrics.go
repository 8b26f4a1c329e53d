package streams

import "github.com/prometheus/client_golang/prometheus"

// engineMetrics exports how many jobs are in each status; per-step
// counters are the runner's (runtime.Metrics).
type engineMetrics struct {
	reg  prometheus.Registerer
	e    *Engine
	jobs *prometheus.Desc
}

func newEngineMetrics(reg prometheus.Registerer, e *Engine) *engineMetrics {
	m := &engineMetrics{
		reg:  reg,
		e:    e,
		jobs: prometheus.NewDesc("sluice_streams_jobs", "Jobs by status.", []string{"status"}, nil),
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			m.reg = nil // already registered by another engine; keep running
		}
	}
	return m
}

func (m *engineMetrics) unregister() {
	if m.reg != nil {
		m.reg.Unregister(m)
	}
}

func (m *engineMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.jobs }

func (m *engineMetrics) Collect(ch chan<- prometheus.Metric) {
	byStatus := map[string]int{}
	for _, ji := range m.e.Jobs() {
		byStatus[ji.Status]++
	}
	for st, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(m.jobs, prometheus.GaugeValue, float64(n), st)
	}
}
