package kafka

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics are the protocol server's Prometheus metrics.
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	conns       prometheus.Gauge
	bytesIn     *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec
	messagesIn  *prometheus.CounterVec
	messagesOut *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, still counted). Registering twice with one reg is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_broker_requests_total", Help: "Kafka requests handled, by API.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_broker_request_duration_seconds", Help: "Time to handle a Kafka request (including Fetch waits), by API.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"api"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_broker_connections", Help: "Open Kafka client connections.",
		}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_broker_bytes_in_total", Help: "Record batch bytes appended by producers, by topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_broker_bytes_out_total", Help: "Record batch bytes served to fetchers, by topic.",
		}, []string{"topic"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_broker_messages_in_total", Help: "Records appended by producers, by topic.",
		}, []string{"topic"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_broker_messages_out_total", Help: "Records served to fetchers, by topic.",
		}, []string{"topic"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.conns, m.bytesIn, m.bytesOut, m.messagesIn, m.messagesOut} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) observe(key int16, d time.Duration) {
	name := kmsg.Key(key).Name()
	m.requests.WithLabelValues(name).Inc()
	m.latency.WithLabelValues(name).Observe(d.Seconds())
}

func (m *Metrics) produced(topic string, bytes, records int) {
	m.bytesIn.WithLabelValues(topic).Add(float64(bytes))
	m.messagesIn.WithLabelValues(topic).Add(float64(records))
}

func (m *Metrics) fetched(topic string, bytes, records int) {
	m.bytesOut.WithLabelValues(topic).Add(float64(bytes))
	m.messagesOut.WithLabelValues(topic).Add(float64(records))
}

// ForgetTopic drops the series of a deleted topic.
func (m *Metrics) ForgetTopic(topic string) {
	for _, v := range []*prometheus.CounterVec{m.bytesIn, m.bytesOut, m.messagesIn, m.messagesOut} {
		v.DeleteLabelValues(topic)
	}
}
