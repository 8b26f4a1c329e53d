package broker

import (
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/metadata"
)

// Cluster metrics, after Kafka's: the ReplicaManager's
// UnderReplicatedPartitions, UnderMinIsrPartitionCount, IsrShrinksPerSec and
// IsrExpandsPerSec, ReassigningPartitions; the controller's
// ActiveControllerCount, OfflinePartitionsCount,
// PreferredReplicaImbalanceCount, LeaderElectionRateAndTimeMs and
// UncleanLeaderElectionsPerSec, fenced and active broker counts, and the
// Raft state of the metadata quorum member (KRaft's current-state). Gauges
// are read from the metadata at scrape time; the counters count the
// partition_change records applied while this node runs.

// clusterMetrics are the counters; the zero value is ready.
type clusterMetrics struct {
	isrShrinks, isrExpands      atomic.Int64 // on the partition's leader
	elections, uncleanElections atomic.Int64 // on the active controller
}

// applyObserved applies r to the state and counts the ISR changes and
// leader elections it makes. Caller holds mu (write).
func (b *Broker) applyObserved(r metadata.Record) error {
	var old []metadata.Partition
	if r.Type == metadata.PartitionChange {
		if t, ok := b.state.Topic(r.Topic); ok {
			old = t.Partitions
		}
	}
	if err := b.state.Apply(r); err != nil {
		return err
	}
	if old == nil || !b.ready.Load() { // replay at start is history, not news
		return nil
	}
	controller := b.quorum.IsLeader()
	for _, np := range r.Partitions {
		if int(np.ID) >= len(old) {
			continue
		}
		op := old[np.ID]
		if np.Leader != op.Leader && np.Leader >= 0 && controller {
			b.cm.elections.Add(1)
			if !slices.Contains(op.InSync(), np.Leader) {
				b.cm.uncleanElections.Add(1)
			}
		}
		if np.Leader == b.cfg.NodeID && op.Leader == np.Leader {
			oisr, nisr := op.InSync(), np.InSync()
			for _, r := range oisr {
				if !slices.Contains(nisr, r) && slices.Contains(np.Replicas, r) {
					b.cm.isrShrinks.Add(1)
					break
				}
			}
			for _, r := range nisr {
				if !slices.Contains(oisr, r) {
					b.cm.isrExpands.Add(1)
					break
				}
			}
		}
	}
	return nil
}

// clusterCollector reports the cluster metrics at scrape time.
type clusterCollector struct{ b *Broker }

var (
	urpDesc         = prometheus.NewDesc("sluice_broker_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).", nil, nil)
	underMinISRDesc = prometheus.NewDesc("sluice_broker_under_min_isr_partitions", "Partitions this broker leads whose ISR is smaller than min.insync.replicas (UnderMinIsrPartitionCount).", nil, nil)
	leaderCountDesc = prometheus.NewDesc("sluice_broker_leader_partitions", "Partitions this broker leads (LeaderCount).", nil, nil)
	reassigningDesc = prometheus.NewDesc("sluice_broker_reassigning_partitions", "Partitions this broker leads that are being reassigned (ReassigningPartitions).", nil, nil)
	isrShrinksDesc  = prometheus.NewDesc("sluice_broker_isr_shrinks_total", "ISR shrinks of partitions this broker leads (IsrShrinksPerSec).", nil, nil)
	isrExpandsDesc  = prometheus.NewDesc("sluice_broker_isr_expands_total", "ISR expansions of partitions this broker leads (IsrExpandsPerSec).", nil, nil)
	activeCtlDesc   = prometheus.NewDesc("sluice_controller_active_controller_count", "1 on the active controller, else 0 (ActiveControllerCount).", nil, nil)
	offlineDesc     = prometheus.NewDesc("sluice_controller_offline_partitions", "Partitions without a live leader, on the active controller (OfflinePartitionsCount).", nil, nil)
	imbalanceDesc   = prometheus.NewDesc("sluice_controller_preferred_replica_imbalance", "Partitions not led by their preferred replica, on the active controller (PreferredReplicaImbalanceCount).", nil, nil)
	electionsDesc   = prometheus.NewDesc("sluice_controller_leader_elections_total", "Leader changes committed by this node as the active controller (LeaderElectionRateAndTimeMs).", nil, nil)
	uncleanDesc     = prometheus.NewDesc("sluice_controller_unclean_leader_elections_total", "Leaders elected from outside the ISR by this node as the active controller (UncleanLeaderElectionsPerSec).", nil, nil)
	brokersDesc     = prometheus.NewDesc("sluice_controller_brokers", "Registered brokers by state, on the active controller (ActiveBrokerCount, FencedBrokerCount).", []string{"state"}, nil)
	raftStateDesc   = prometheus.NewDesc("sluice_controller_raft_state", "1 for this node's Raft state in the metadata quorum (leader, candidate, follower).", []string{"state"}, nil)
	appliedDesc     = prometheus.NewDesc("sluice_controller_last_applied_record_offset", "Raft index of the last metadata record applied on this node (LastAppliedRecordOffset).", nil, nil)
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{urpDesc, underMinISRDesc, leaderCountDesc, reassigningDesc, isrShrinksDesc, isrExpandsDesc,
		activeCtlDesc, offlineDesc, imbalanceDesc, electionsDesc, uncleanDesc, brokersDesc, raftStateDesc, appliedDesc} {
		ch <- d
	}
}

// ClusterStats is a snapshot of the cluster metrics' gauges.
type ClusterStats struct {
	UnderReplicated, UnderMinISR, Leaders, Reassigning  int
	Offline, Imbalance, ActiveBrokers, FencedBrokers    int // on the active controller; 0 elsewhere
	Controller                                          bool
	ISRShrinks, ISRExpands, Elections, UncleanElections int64
}

// ClusterStats returns the cluster metrics of this node.
func (b *Broker) ClusterStats() ClusterStats {
	st := ClusterStats{Controller: b.quorum.IsLeader()}
	b.mu.RLock()
	dyn := b.state.BrokerConfigs()
	for _, t := range b.state.Topics() {
		minISR := 0
		for _, p := range t.Partitions {
			if st.Controller {
				if p.Leader < 0 || !b.liveLocked(p.Leader) {
					st.Offline++
				}
				if p.Leader != p.Replicas[0] {
					st.Imbalance++
				}
			}
			if p.Leader != b.cfg.NodeID {
				continue
			}
			st.Leaders++
			isr := p.InSync()
			for _, r := range p.Replicas {
				if !slices.Contains(p.AddingReplicas, r) && !slices.Contains(isr, r) {
					st.UnderReplicated++
					break
				}
			}
			if minISR == 0 {
				minISR, _ = strconv.Atoi(b.topicConfigs(dyn, t.Configs)["min.insync.replicas"])
			}
			if len(isr) < minISR {
				st.UnderMinISR++
			}
			if p.Reassigning() {
				st.Reassigning++
			}
		}
	}
	if st.Controller {
		for _, br := range b.state.Brokers() {
			if br.Fenced {
				st.FencedBrokers++
			} else {
				st.ActiveBrokers++
			}
		}
	}
	b.mu.RUnlock()
	st.ISRShrinks, st.ISRExpands = b.cm.isrShrinks.Load(), b.cm.isrExpands.Load()
	st.Elections, st.UncleanElections = b.cm.elections.Load(), b.cm.uncleanElections.Load()
	return st
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.ClusterStats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(urpDesc, float64(st.UnderReplicated))
	gauge(underMinISRDesc, float64(st.UnderMinISR))
	gauge(leaderCountDesc, float64(st.Leaders))
	gauge(reassigningDesc, float64(st.Reassigning))
	counter(isrShrinksDesc, st.ISRShrinks)
	counter(isrExpandsDesc, st.ISRExpands)
	active := 0.0
	if st.Controller {
		active = 1
	}
	gauge(activeCtlDesc, active)
	gauge(offlineDesc, float64(st.Offline))
	gauge(imbalanceDesc, float64(st.Imbalance))
	counter(electionsDesc, st.Elections)
	counter(uncleanDesc, st.UncleanElections)
	gauge(brokersDesc, float64(st.ActiveBrokers), "active")
	gauge(brokersDesc, float64(st.FencedBrokers), "fenced")
	state := c.b.quorum.RaftState()
	for _, s := range []string{"leader", "candidate", "follower"} {
		v := 0.0
		if s == state {
			v = 1
		}
		gauge(raftStateDesc, v, s)
	}
	gauge(appliedDesc, float64(c.b.quorum.AppliedIndex()))
}
