package rest

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/schemaregistry/catalog"
)

// Metrics are the API's Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	checks   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, cat *catalog.Catalog) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_schema_registry_requests_total",
			Help: "Schema Registry HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_schema_registry_request_duration_seconds",
			Help:    "Schema Registry HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_schema_registry_compatibility_checks_total",
			Help: "Compatibility checks by result (compatible, incompatible), from registrations and the compatibility endpoint.",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.checks)
		count := func(f func(st *catalog.State) int) func() float64 {
			return func() float64 {
				var n int
				cat.Read(func(st *catalog.State) { n = f(st) })
				return float64(n)
			}
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_schema_registry_schemas", Help: "Distinct schemas (ids) stored."},
				count(func(st *catalog.State) int { return st.NumIDs() })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_schema_registry_subjects", Help: "Subjects with at least one undeleted version."},
				count(func(st *catalog.State) int { return len(st.Subjects("", false, false)) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_schema_registry_max_schema_id", Help: "Highest schema id allocated."},
				count(func(st *catalog.State) int { return st.MaxID() })),
		)
	}
	return m
}

func (m *Metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) compat(result string) { m.checks.WithLabelValues(result).Inc() }
