package webhook

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are process-wide, labelled by trigger, because the connector SDK
// gives tasks no registry: whoever owns the process's registry adds them
// with RegisterMetrics (the trigger API does so with its Registerer).
var (
	mDelivered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_records_delivered_total",
		Help: "Records the receiver accepted (2xx)."}, []string{"trigger"})
	mBatches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_batches_delivered_total",
		Help: "Batches the receiver accepted (2xx)."}, []string{"trigger"})
	mRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_requests_total",
		Help: "HTTP requests by answer: the status code, or error (timeout, connection)."}, []string{"trigger", "code"})
	mRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_retries_total",
		Help: "Failed attempts followed by a retry (or a bisection)."}, []string{"trigger"})
	mFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_records_failed_total",
		Help: "Records given up, by condition."}, []string{"trigger", "condition"})
	mToFailure = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_records_to_failure_topic_total",
		Help: "Given-up records written to the on-failure topic."}, []string{"trigger"})
	mFiltered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_trigger_records_filtered_total",
		Help: "Records the filters dropped."}, []string{"trigger"})
	mBuffered = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_trigger_records_buffered",
		Help: "Records fetched and waiting for delivery in this process."}, []string{"trigger"})
	mLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_trigger_request_seconds",
		Help: "HTTP request latency.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"trigger"})
)

// RegisterMetrics adds the connector's metrics to reg; registering twice
// with the same registry is fine.
func RegisterMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{mDelivered, mBatches, mRequests, mRetries, mFailed, mToFailure, mFiltered, mBuffered, mLatency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

type triggerMetrics struct {
	delivered, batches, retries, sentToFailure, filtered prometheus.Counter
	buffered                                             prometheus.Gauge
	latency                                              prometheus.Observer
	requests, failed                                     *prometheus.CounterVec
}

func metricsFor(trigger string) *triggerMetrics {
	l := prometheus.Labels{"trigger": trigger}
	return &triggerMetrics{
		delivered: mDelivered.With(l), batches: mBatches.With(l), retries: mRetries.With(l),
		sentToFailure: mToFailure.With(l), filtered: mFiltered.With(l), buffered: mBuffered.With(l),
		latency: mLatency.With(l), requests: mRequests.MustCurryWith(l), failed: mFailed.MustCurryWith(l),
	}
}
