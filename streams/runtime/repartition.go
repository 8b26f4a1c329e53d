package runtime

import (
	"fmt"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// stages splits a plan at every key_by that a keyed operator (aggregate
// or join) follows: records are written, keyed by the new key, to an
// internal repartition topic, and a second stage reads them back, so each
// key is aggregated or joined in exactly one task (Kafka Streams' through
// topics). A plan without such a key_by is one stage.
func stages(p *plan.Plan) []*plan.Plan {
	var out []*plan.Plan
	for n := 1; ; n++ {
		cut := -1
		for i, op := range p.Ops {
			if _, ok := op.(*plan.KeyBy); ok && keyedAfter(p.Ops[i+1:]) {
				cut = i
				break
			}
		}
		if cut < 0 {
			return append(out, p)
		}
		topic := RepartitionTopic(p.Job.Name, n)
		job1 := *p.Job
		job1.Sink = spec.Sink{Topic: topic, Format: "json"}
		first := &plan.Plan{Job: &job1, Sources: p.Sources, Ops: p.Ops[:cut+1]}
		out = append(out, first)

		sources := append([]plan.Source(nil), p.Sources...)
		sources[0] = plan.Source{Source: spec.Source{
			Name: p.Sources[0].Name, Topic: topic,
			Key: spec.Format{Format: "string"}, Value: spec.Format{Format: "json"},
		}, Internal: true}
		p = &plan.Plan{Job: p.Job, Sources: sources, Ops: p.Ops[cut+1:], SinkKey: p.SinkKey}
	}
}

func keyedAfter(ops []plan.Op) bool {
	for _, op := range ops {
		switch op.(type) {
		case *plan.Aggregate, *plan.Join:
			return true
		}
	}
	return false
}

// RepartitionTopic names the internal topic after the n-th re-keying.
func RepartitionTopic(job string, n int) string {
	if n == 1 {
		return "_sluice-streams-" + job + "-repartition"
	}
	return fmt.Sprintf("_sluice-streams-%s-repartition-%d", job, n)
}

// usedSources are the sources a stage reads: its first and those it joins.
func usedSources(p *plan.Plan) []int {
	used := []int{0}
	for _, op := range p.Ops {
		if j, ok := op.(*plan.Join); ok {
			used = append(used, j.Source)
		}
	}
	return used
}

// InternalTopics are the topics a job creates for itself (repartition and
// changelog topics of every stage), which deleting the job removes. The
// sink and dead-letter topics are the user's and stay.
func InternalTopics(p *plan.Plan) []string {
	st := stages(p)
	var out []string
	for i := range st {
		if i > 0 {
			out = append(out, RepartitionTopic(p.Job.Name, i))
		}
		out = append(out, ChangelogTopic(p.Job.Name, i+1))
	}
	return out
}

// Groups are the consumer groups of a job's stages, given the first's.
func Groups(p *plan.Plan, group string) []string {
	if group == "" {
		group = "sluice-streams-" + p.Job.Name
	}
	out := []string{group}
	for i := 2; i <= len(stages(p)); i++ {
		out = append(out, fmt.Sprintf("%s-%d", group, i))
	}
	return out
}
