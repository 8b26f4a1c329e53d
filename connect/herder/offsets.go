package herder

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
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
		resp, err := kadm.NewClient(h.cl).DeleteOffsets(ctx, "connect-"+name, ts)
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
