package pool

import "github.com/prometheus/client_golang/prometheus"

// metrics are the pool's Prometheus series.
type metrics struct {
	workers     prometheus.Gauge
	target      prometheus.Gauge
	cpu         *prometheus.GaugeVec
	scaleEvents *prometheus.CounterVec
	restarts    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_connect_pool_workers", Help: "Worker processes running (not counting those stopping).",
		}),
		target: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_connect_pool_target_workers", Help: "Worker count the pool is moving to.",
		}),
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_connect_pool_worker_cpu_percent",
			Help: "CPU of each worker over the last evaluation window, in percent of its MCUs (100 = mcuCount cores busy).",
		}, []string{"worker"}),
		scaleEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connect_pool_scale_events_total", Help: "Autoscaling decisions, by direction (out, in).",
		}, []string{"direction"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_connect_pool_worker_restarts_total", Help: "Workers restarted after exiting unasked.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.workers, m.target, m.cpu, m.scaleEvents, m.restarts)
	}
	return m
}
