package herder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/connect/runtime"
)

// Offset is one entry of GET /connectors/{c}/offsets.
type Offset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// Offsets returns a connector's offsets in Kafka Connect's shape: source
// offsets from connect-offsets; for sinks, the committed offsets of group
// connect-<c> as {"kafka_topic","kafka_partition"} -> {"kafka_offset"}.
func (h *Herder) Offsets(ctx context.Context, name string) ([]Offset, error) {
	h.mu.Lock()
	c := h.state.connectors[name]
	var cfg map[string]string
	if c != nil {
		cfg = copyMap(c.config)
	}
	h.mu.Unlock()
	if c == nil || cfg == nil {
		return nil, fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	out := []Offset{}
	p, err := plugin.Lookup(cfg["connector.class"])
	if err != nil {
		return nil, err
	}
	if p.Kind == plugin.Sink {
		offs, err := kadm.NewClient(h.cl).FetchOffsets(ctx, "connect-"+name)
		if err != nil {
			return nil, err
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.At >= 0 {
				out = append(out, Offset{Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition}, Offset: map[string]any{"kafka_offset": o.At}})
			}
		})
		return out, nil
	}
	m, err := runtime.ReadOffsets(ctx, h.cfg.Seeds, h.cfg.OffsetsTopic, name)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var part map[string]any
		_ = json.Unmarshal([]byte(k), &part)
		out = append(out, Offset{Partition: part, Offset: m[k]})
	}
	return out, nil
}

// Patch merges changes into a connector's config; a null value removes a key.
func (h *Herder) Patch(ctx context.Context, name string, patch map[string]*string) error {
	info, err := h.Info(name)
	if err != nil {
		return err
	}
	cfg := info.Config
	for k, v := range patch {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = *v
		}
	}
	_, err = h.Put(ctx, name, cfg, false, "")
	return err
}

// PluginConfig returns a plugin's config definitions (common keys first),
// as GET /connector-plugins/{p}/config.
func PluginConfig(class string) ([]ConfigKeyInfo, error) {
	p, err := plugin.Lookup(class)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", err.Error(), ErrNotFound)
	}
	res := Validate(map[string]string{"connector.class": p.Class})
	out := make([]ConfigKeyInfo, 0, len(res.Configs))
	for _, c := range res.Configs {
		out = append(out, c.Definition)
	}
	return out, nil
}

// ResetOffsets deletes a STOPPED connector's offsets: tombstones in
// connect-offsets for a source, the group connect-<c>'s committed offsets
// for a sink (Kafka Connect's DELETE /connectors/{c}/offsets).
func (h *Herder) ResetOffsets(ctx context.Context, name string) error {
	h.mu.Lock()
	c := h.state.connectors[name]
	stopped := c != nil && c.target == TargetStopped
	h.mu.Unlock()
	if c == nil || c.config == nil {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	if !stopped {
		return fmt.Errorf("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint: %w", name, ErrBadInput)
	}
	offs, err := h.Offsets(ctx, name)
	if err != nil {
		return err
	}
	if typeOf(c.config) == string(plugin.Sink) {
		if len(offs) == 0 {
			return nil
		}
		ts := kadm.TopicsSet{}
		for _, o := range offs {
			ts.Add(o.Partition["kafka_topic"].(string), o.Partition["kafka_partition"].(int32))
		}
		adm := kadm.NewClient(h.cl)
		waitGroupEmpty(ctx, adm, "connect-"+name)
		resp, err := adm.DeleteOffsets(ctx, "connect-"+name, ts)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	var recs []*kgo.Record
	for _, o := range offs {
		k, err := json.Marshal([]any{name, o.Partition})
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: h.cfg.OffsetsTopic, Key: k})
	}
	if len(recs) == 0 {
		return nil
	}
	return h.cl.ProduceSync(ctx, recs...).FirstErr()
}

// AlterOffsets writes offsets for a STOPPED connector (Kafka Connect's
// PATCH /connectors/{c}/offsets, KIP-875). Sources: each partition's offset
// goes to connect-offsets (a null offset deletes it). Sinks: partitions are
// {"kafka_topic","kafka_partition"}, offsets {"kafka_offset"} committed for
// group connect-<c> (a null offset deletes the group's offset).
func (h *Herder) AlterOffsets(ctx context.Context, name string, offs []Offset) error {
	h.mu.Lock()
	c := h.state.connectors[name]
	var cfg map[string]string
	stopped := false
	if c != nil && c.config != nil {
		cfg, stopped = copyMap(c.config), c.target == TargetStopped
	}
	h.mu.Unlock()
	if cfg == nil {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	if len(offs) == 0 {
		return fmt.Errorf("Partitions / offsets need to be provided for an alter offsets request: %w", ErrBadInput)
	}
	if !stopped {
		return fmt.Errorf("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint: %w", name, ErrBadInput)
	}
	if typeOf(cfg) == string(plugin.Sink) {
		return h.alterSinkOffsets(ctx, name, offs)
	}
	var recs []*kgo.Record
	for _, o := range offs {
		if o.Partition == nil {
			return fmt.Errorf("Source partitions may not be null: %w", ErrBadInput)
		}
		k, err := json.Marshal([]any{name, o.Partition})
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrBadInput)
		}
		var v []byte
		if o.Offset != nil {
			if v, err = json.Marshal(o.Offset); err != nil {
				return fmt.Errorf("%v: %w", err, ErrBadInput)
			}
		}
		recs = append(recs, &kgo.Record{Topic: h.cfg.OffsetsTopic, Key: k, Value: v})
	}
	return h.cl.ProduceSync(ctx, recs...).FirstErr()
}

func (h *Herder) alterSinkOffsets(ctx context.Context, name string, offs []Offset) error {
	commit := kadm.Offsets{}
	del := kadm.TopicsSet{}
	for _, o := range offs {
		if o.Partition == nil {
			return fmt.Errorf("The partition for a sink connector offset cannot be null or missing: %w", ErrBadInput)
		}
		rawTopic, okT := o.Partition["kafka_topic"]
		rawPart, okP := o.Partition["kafka_partition"]
		if !okT || !okP {
			return fmt.Errorf("The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition': %w", ErrBadInput)
		}
		topic, ok := rawTopic.(string)
		if !ok || topic == "" {
			return fmt.Errorf("Kafka topic names must be valid strings: %w", ErrBadInput)
		}
		part, ok := jsonInt(rawPart)
		if !ok || part < 0 || part > 1<<31-1 {
			return fmt.Errorf("Failed to parse the following Kafka partition value in the provided offsets: '%v'. Partition values for sink connectors need to be integers.: %w", rawPart, ErrBadInput)
		}
		if o.Offset == nil {
			del.Add(topic, int32(part))
			continue
		}
		rawOff, ok := o.Offset["kafka_offset"]
		if !ok {
			return fmt.Errorf("The offset for a sink connector should either be null or contain the key 'kafka_offset': %w", ErrBadInput)
		}
		off, ok := jsonInt(rawOff)
		if !ok || off < 0 {
			return fmt.Errorf("Failed to parse the following Kafka offset value in the provided offsets: '%v'. Offset values for sink connectors need to be integers.: %w", rawOff, ErrBadInput)
		}
		commit.Add(kadm.Offset{Topic: topic, Partition: int32(part), At: off, LeaderEpoch: -1})
	}
	adm := kadm.NewClient(h.cl)
	group := "connect-" + name
	waitGroupEmpty(ctx, adm, group)
	if len(commit) > 0 {
		resp, err := adm.CommitOffsets(ctx, group, commit)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("Failed to alter consumer group offsets for connector %s, either because its tasks haven't stopped completely yet or the connector was resumed before the request completed: %w", name, err)
		}
	}
	if len(del) > 0 {
		resp, err := adm.DeleteOffsets(ctx, group, del)
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("Failed to reset consumer group offsets for connector %s: %w", name, err)
		}
	}
	return nil
}

// jsonInt reads a whole number decoded from JSON.
func jsonInt(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x != float64(int64(x)) {
			return 0, false
		}
		return int64(x), true
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// stoppingGrace bounds how long an offsets change waits for a stopped sink
// connector's tasks to leave their consumer group (they first deliver and
// commit what they hold).
const stoppingGrace = 20 * time.Second

// waitGroupEmpty waits until group has no members, for at most
// stoppingGrace: right after PUT /stop the sink tasks may still be draining,
// and Kafka refuses to change a subscribed group's offsets. If the group
// is still busy after that, the change itself reports Kafka's error.
func waitGroupEmpty(ctx context.Context, adm *kadm.Client, group string) {
	ctx, cancel := context.WithTimeout(ctx, stoppingGrace)
	defer cancel()
	for {
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return
		}
		g, ok := gs[group]
		if !ok || g.Err != nil || len(g.Members) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
