package clienttest

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/testenv"
)

// gauge returns the value of the metric name whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// The broker's metrics say what went through it: bytes and messages per
// topic, requests per API, partitions, log size and each group's lag.
func TestBrokerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := testenv.StartBroker(t, testenv.WithRegisterer(reg))
	ctx := context.Background()
	adm := adminClient(t, b.Addr)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr, "m", "v", 40)
	// Commit offset 30 of 40 for group "lagging": its lag is 10.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "m", Partition: 0, At: 30, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "lagging", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	checks := []struct {
		name   string
		labels map[string]string
		min    float64
		exact  bool
	}{
		{"sluice_broker_messages_in_total", map[string]string{"topic": "m"}, 40, true},
		{"sluice_broker_bytes_in_total", map[string]string{"topic": "m"}, 40 * 3, false},
		{"sluice_broker_requests_total", map[string]string{}, 1, false},
		{"sluice_broker_partitions", nil, 1, false},
		{"sluice_broker_log_size_bytes", map[string]string{"topic": "m", "partition": "0"}, 1, false},
		{"sluice_group_lag", map[string]string{"group": "lagging", "topic": "m", "partition": "0"}, 10, true},
	}
	for _, c := range checks {
		v, ok := metricValue(t, reg, c.name, c.labels)
		switch {
		case !ok:
			t.Errorf("%s%v missing", c.name, c.labels)
		case c.exact && v != c.min:
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.min)
		case v < c.min:
			t.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
}
