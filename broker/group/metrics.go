package group

import "github.com/prometheus/client_golang/prometheus"

// metrics are the coordinator's Prometheus series.
type metrics struct {
	rebalances  prometheus.Counter
	expirations prometheus.Counter
	commits     prometheus.Counter
	groups      *prometheus.Desc
	members     *prometheus.Desc
	c           *Coordinator
}

func newMetrics(c *Coordinator, reg prometheus.Registerer) *metrics {
	m := &metrics{
		c: c,
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_group_rebalances_total", Help: "Rebalances started by the group coordinator.",
		}),
		expirations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_group_member_expirations_total", Help: "Group members removed for missing their session or sync deadline.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_group_offset_commits_total", Help: "Partition offsets committed.",
		}),
		groups:  prometheus.NewDesc("sluice_groups", "Consumer groups by state.", []string{"state"}, nil),
		members: prometheus.NewDesc("sluice_group_members", "Members of consumer groups.", nil, nil),
	}
	if reg != nil {
		reg.MustRegister(m.rebalances, m.expirations, m.commits, m)
	}
	return m
}

// Describe implements prometheus.Collector for the gauges read at scrape.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.groups
	ch <- m.members
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	counts := map[state]int{}
	members := 0
	for _, g := range m.c.snapshot() {
		g.mu.Lock()
		counts[g.state]++
		members += len(g.members)
		g.mu.Unlock()
	}
	for s := stateEmpty; s <= stateDead; s++ {
		ch <- prometheus.MustNewConstMetric(m.groups, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(m.members, prometheus.GaugeValue, float64(members))
}
