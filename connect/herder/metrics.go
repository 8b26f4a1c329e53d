package herder

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// stateCollector reports the states of the connectors and tasks assigned
// to this worker, from the statuses it wrote last, at scrape time (so a
// rebalance never leaves stale series behind).
// Its series carry the worker id as a constant label, so several workers
// in one process can share a registry.
type stateCollector struct {
	h                         *Herder
	connectorState, taskState *prometheus.Desc
	assigned                  *prometheus.Desc
}

func newStateCollector(h *Herder) *stateCollector {
	cl := prometheus.Labels{"worker": h.cfg.WorkerID}
	return &stateCollector{h: h,
		connectorState: prometheus.NewDesc("sluice_connect_connector_state",
			"1 for the current state of each connector assigned to this worker.", []string{"connector", "state"}, cl),
		taskState: prometheus.NewDesc("sluice_connect_task_state",
			"1 for the current state of each task assigned to this worker.", []string{"connector", "task", "state"}, cl),
		assigned: prometheus.NewDesc("sluice_connect_worker_assigned",
			"Connectors and tasks assigned to this worker.", []string{"kind"}, cl),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connectorState
	ch <- c.taskState
	ch <- c.assigned
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	var conns, tasks int
	if a := h.assigned; a != nil {
		for _, n := range a.Connectors {
			st := h.lastStates["status-connector-"+n]
			if st == "" {
				st = "UNASSIGNED"
			}
			conns++
			ch <- prometheus.MustNewConstMetric(c.connectorState, prometheus.GaugeValue, 1, n, st)
		}
		for _, t := range a.Tasks {
			name, n, ok := splitTaskKey(t)
			if !ok {
				continue
			}
			st := h.lastStates["status-task-"+t]
			if st == "" {
				st = "UNASSIGNED"
			}
			tasks++
			ch <- prometheus.MustNewConstMetric(c.taskState, prometheus.GaugeValue, 1, name, strconv.Itoa(n), st)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.assigned, prometheus.GaugeValue, float64(conns), "connectors")
	ch <- prometheus.MustNewConstMetric(c.assigned, prometheus.GaugeValue, float64(tasks), "tasks")
}
