// Package datagen is a rate-limited data generator source for demos and
// tests. It registers Confluent's datagen class name as an alias, and keeps
// its position per task in connect-offsets so a restarted task resumes.
package datagen

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Class is the generator's class name.
const Class = "io.sluice.connect.datagen.DatagenConnector"

func init() {
	plugin.Register(plugin.Plugin{
		Class:   Class,
		Aliases: []string{"io.confluent.kafka.connect.datagen.DatagenConnector"},
		Kind:    plugin.Source, Version: "1.0.0",
		New: func() plugin.Connector { return &connector{} },
	})
}

var def = plugin.ConfigDef{
	{Name: "kafka.topic", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Topic to write generated records to."},
	{Name: "records.per.second", Type: plugin.TypeDouble, Default: "10", Validator: plugin.AtLeast(0.001), Importance: plugin.Medium, Documentation: "Records each task generates per second."},
	{Name: "iterations", Type: plugin.TypeLong, Default: "-1", Importance: plugin.Medium, Documentation: "Records each task generates in total; -1 for no end."},
	{Name: "batch.size", Type: plugin.TypeInt, Default: "100", Validator: plugin.AtLeast(1), Importance: plugin.Low, Documentation: "Most records returned by one poll."},
	{Name: "cpu.per.record.ms", Type: plugin.TypeDouble, Default: "0", Validator: plugin.AtLeast(0), Importance: plugin.Low, Documentation: "For autoscaling tests and demos: CPU time, in milliseconds, the task burns for each record it generates."},
	{Name: "fail.after", Type: plugin.TypeLong, Default: "-1", Importance: plugin.Low, Documentation: "For tests: the task fails after generating this many records; -1 never."},
}

type connector struct{ cfg map[string]string }

func (c *connector) ConfigDef() plugin.ConfigDef { return def }
func (c *connector) Start(cfg map[string]string) error {
	if _, err := def.Parse(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs gives every task the same settings and its own index.
func (c *connector) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		m := map[string]string{}
		for k, v := range c.cfg {
			m[k] = v
		}
		m["task.index"] = strconv.Itoa(i)
		out[i] = m
	}
	return out, nil
}
func (c *connector) Stop() error                { return nil }
func (c *connector) NewTask() plugin.SourceTask { return &task{} }

type task struct {
	topic     string
	index     int64
	next      int64 // next sequence number to generate
	limit     int64
	failAfter int64
	batch     int
	interval  time.Duration
	last      time.Time
	generated int64
	cpuCost   time.Duration // CPU burned per record
}

func (t *task) Start(ctx plugin.TaskContext, cfg map[string]string) error {
	p, err := def.Parse(cfg)
	if err != nil {
		return err
	}
	t.topic, t.limit, t.failAfter, t.batch = p.String("kafka.topic"), p.Int("iterations"), p.Int("fail.after"), int(p.Int("batch.size"))
	t.index, _ = strconv.ParseInt(cfg["task.index"], 10, 64)
	t.interval = time.Duration(float64(time.Second) / p.Float("records.per.second"))
	t.cpuCost = time.Duration(p.Float("cpu.per.record.ms") * float64(time.Millisecond))
	if off := ctx.Offset(map[string]any{"task": t.index}); off != nil {
		if f, ok := off["seq"].(float64); ok {
			t.next = int64(f) + 1
		}
	}
	t.last = time.Now()
	return nil
}

// Poll returns the records due since the last poll, pacing to the rate.
func (t *task) Poll(ctx context.Context) ([]*plugin.SourceRecord, error) {
	if t.limit >= 0 && t.next >= t.limit {
		// Done: idle without spinning.
		return nil, wait(ctx, time.Second)
	}
	due := int(time.Since(t.last) / t.interval)
	if due == 0 {
		return nil, wait(ctx, t.interval-time.Since(t.last))
	}
	if due > t.batch {
		due = t.batch
	}
	t.last = t.last.Add(time.Duration(due) * t.interval)
	if time.Since(t.last) > time.Second {
		t.last = time.Now() // do not burst after a long pause
	}
	out := make([]*plugin.SourceRecord, 0, due)
	for i := 0; i < due && (t.limit < 0 || t.next < t.limit); i++ {
		if t.failAfter >= 0 && t.generated >= t.failAfter {
			if len(out) > 0 {
				return out, nil // deliver these; fail on the next poll
			}
			return nil, fmt.Errorf("datagen: failing after %d records as configured (fail.after)", t.generated)
		}
		if t.cpuCost > 0 {
			burnCPU(t.cpuCost)
		}
		seq := t.next
		t.next++
		t.generated++
		out = append(out, &plugin.SourceRecord{
			SourcePartition: map[string]any{"task": t.index},
			SourceOffset:    map[string]any{"seq": seq},
			Topic:           t.topic,
			Key:             fmt.Sprintf("%d-%d", t.index, seq),
			Value: map[string]any{
				"id":    fmt.Sprintf("%d-%d", t.index, seq),
				"task":  t.index,
				"seq":   seq,
				"price": float64(seq%1000) / 10,
			},
			Timestamp: time.Now(),
		})
	}
	return out, nil
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
	return nil
}

func (t *task) Commit() error { return nil }
func (t *task) Stop() error   { return nil }
