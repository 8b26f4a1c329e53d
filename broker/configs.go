package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// Config sources as DescribeConfigs reports them.
const (
	srcTopic         = int8(kmsg.ConfigSourceDynamicTopicConfig)
	srcDynamicBroker = int8(kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	srcStatic        = int8(kmsg.ConfigSourceStaticBrokerConfig)
	srcDefault       = int8(kmsg.ConfigSourceDefaultConfig)
)

// brokerValue resolves a broker config: dynamic (AlterConfigs) over static
// (sluice.yaml) over Kafka's default. ok is false when no value is set and
// the config has no default (null).
func (b *Broker) brokerValue(name string) (value string, source int8, ok bool) {
	b.mu.RLock()
	dyn := b.state.BrokerConfigs()
	b.mu.RUnlock()
	return b.brokerValueFrom(dyn, name)
}

func (b *Broker) brokerValueFrom(dyn map[string]string, name string) (string, int8, bool) {
	if v, ok := dyn[name]; ok {
		return v, srcDynamicBroker, true
	}
	if v, ok := b.cfg.Settings[name]; ok {
		return v, srcStatic, true
	}
	switch name { // values the broker knows from its own Config
	case "broker.id", "node.id":
		return strconv.Itoa(int(b.cfg.NodeID)), srcStatic, true
	case "broker.rack":
		if b.cfg.Rack != "" {
			return b.cfg.Rack, srcStatic, true
		}
	case "log.dirs":
		return b.logsDir(), srcStatic, true
	}
	if s := brokerSpecByName[name]; s != nil && !(s.Nullable && s.Default == "") {
		return s.Default, srcDefault, true
	}
	return "", srcDefault, false
}

func (b *Broker) setting(name string) string {
	v, _, _ := b.brokerValue(name)
	return v
}

func (b *Broker) brokerInt(name string) int64 {
	v, _ := strconv.ParseInt(b.setting(name), 10, 64)
	return v
}

// topicValue resolves a topic config: the topic's override, else the first
// synonym broker config set (scaled), else Kafka's default.
func (b *Broker) topicValue(dyn, overrides map[string]string, s *ConfigSpec) (string, int8, []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym) {
	var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	value, source, found := "", srcDefault, false
	if v, ok := overrides[s.Name]; ok {
		value, source, found = v, srcTopic, true
		syns = append(syns, synonym(s.Name, v, srcTopic))
	}
	for _, syn := range s.Synonyms {
		v, src, ok := b.brokerValueFrom(dyn, syn.Name)
		if !ok || src == srcDefault {
			continue
		}
		syns = append(syns, synonym(syn.Name, v, src))
		if !found {
			value, source, found = scale(v, syn.Factor), src, true
		}
	}
	if !found {
		value = s.Default
	}
	syns = append(syns, synonym(s.Name, s.Default, srcDefault))
	return value, source, syns
}

func synonym(name, value string, src int8) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name = name
	s.Value = kmsg.StringPtr(value)
	s.Source = kmsg.ConfigSource(src)
	return s
}

func scale(v string, factor int64) string {
	if factor == 1 {
		return v
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return v
	}
	return strconv.FormatInt(n*factor, 10)
}

// topicConfigs returns the effective value of every topic config of t.
func (b *Broker) topicConfigs(dyn, overrides map[string]string) map[string]string {
	out := make(map[string]string, len(TopicConfigSpecs))
	for i := range TopicConfigSpecs {
		v, _, _ := b.topicValue(dyn, overrides, &TopicConfigSpecs[i])
		out[TopicConfigSpecs[i].Name] = v
	}
	return out
}

// logConfig is the storage configuration of a topic's partitions.
func (b *Broker) logConfig(t *metadata.Topic) storage.LogConfig {
	b.mu.RLock()
	dyn := b.state.BrokerConfigs()
	b.mu.RUnlock()
	return b.logConfigFrom(dyn, t.Configs)
}

func (b *Broker) logConfigFrom(dyn, overrides map[string]string) storage.LogConfig {
	c := b.topicConfigs(dyn, overrides)
	i64 := func(k string) int64 { v, _ := strconv.ParseInt(c[k], 10, 64); return v }
	f64 := func(k string) float64 { v, _ := strconv.ParseFloat(c[k], 64); return v }
	lc := storage.DefaultLogConfig()
	lc.SegmentBytes = i64("segment.bytes")
	lc.SegmentMs = i64("segment.ms")
	lc.IndexIntervalBytes = int32(i64("index.interval.bytes"))
	lc.RetentionMs = i64("retention.ms")
	lc.RetentionBytes = i64("retention.bytes")
	lc.CleanupPolicy = strings.ReplaceAll(c["cleanup.policy"], " ", "")
	lc.DeleteRetentionMs = i64("delete.retention.ms")
	lc.MinCleanableDirtyRatio = f64("min.cleanable.dirty.ratio")
	lc.MinCompactionLagMs = i64("min.compaction.lag.ms")
	lc.MaxMessageBytes = int32(i64("max.message.bytes"))
	lc.MessageTimestampType = c["message.timestamp.type"]
	lc.FlushMessages = i64("flush.messages")
	lc.FlushMs = i64("flush.ms")
	return lc
}

// DescribeConfigs implements kafka.Backend.
func (b *Broker) DescribeConfigs(typ kmsg.ConfigResourceType, name string, keys []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	b.mu.RLock()
	dyn := b.state.BrokerConfigs()
	b.mu.RUnlock()
	want := func(n string) bool { return keys == nil || slices.Contains(keys, n) }
	var out []kmsg.DescribeConfigsResponseResourceConfig
	add := func(s *ConfigSpec, value string, ok bool, source int8, syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, readOnly bool) {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = s.Name
		if ok {
			c.Value = kmsg.StringPtr(value)
		}
		c.Source = kmsg.ConfigSource(source)
		c.IsDefault = source == srcDefault
		c.ReadOnly = readOnly
		c.ConfigType = s.Type
		if synonyms {
			c.ConfigSynonyms = syns
		}
		if docs {
			c.Documentation = kmsg.StringPtr(s.Doc)
		}
		out = append(out, c)
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		b.mu.RLock()
		t, ok := b.state.Topic(name)
		b.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, name)
		}
		for i := range TopicConfigSpecs {
			s := &TopicConfigSpecs[i]
			if !want(s.Name) {
				continue
			}
			v, src, syns := b.topicValue(dyn, t.Configs, s)
			add(s, v, true, src, syns, false)
		}
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(b.cfg.NodeID)) {
			return nil, fmt.Errorf("%w: broker %q is not this node", kerr.InvalidRequest, name)
		}
		for i := range BrokerConfigSpecs {
			s := &BrokerConfigSpecs[i]
			if !want(s.Name) {
				continue
			}
			v, src, ok := b.brokerValueFrom(dyn, s.Name)
			var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
			if ok {
				syns = append(syns, synonym(s.Name, v, src))
			}
			add(s, v, ok, src, syns, s.ReadOnly)
		}
	default:
		return nil, fmt.Errorf("%w: resource type %v", kerr.InvalidRequest, typ)
	}
	return out, nil
}

// AlterConfigs implements kafka.Backend: legacy (replace every override) or
// incremental (set, delete, append, subtract) changes of a topic's overrides
// or of the dynamic broker configs.
func (b *Broker) AlterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, changes []kafka.ConfigChange, incremental, validateOnly bool) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	var cur map[string]string
	var topic *metadata.Topic
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := b.state.Topic(name)
		if !ok {
			b.mu.RUnlock()
			return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, name)
		}
		topic, cur = t, maps.Clone(t.Configs)
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(b.cfg.NodeID)) {
			b.mu.RUnlock()
			return fmt.Errorf("%w: broker %q is not this node", kerr.InvalidRequest, name)
		}
		cur = b.state.BrokerConfigs()
	default:
		b.mu.RUnlock()
		return fmt.Errorf("%w: resource type %v", kerr.InvalidRequest, typ)
	}
	dyn := b.state.BrokerConfigs()
	b.mu.RUnlock()
	if cur == nil {
		cur = map[string]string{}
	}
	next := cur
	if !incremental {
		next = map[string]string{}
	}
	specs := topicSpecByName
	if typ == kmsg.ConfigResourceTypeBroker {
		specs = brokerSpecByName
	}
	for _, c := range changes {
		s := specs[c.Name]
		if s == nil {
			return fmt.Errorf("%w: unknown config %q", kerr.InvalidConfig, c.Name)
		}
		if typ == kmsg.ConfigResourceTypeBroker && s.ReadOnly {
			return fmt.Errorf("%w: %s cannot be changed at run time", kerr.InvalidConfig, c.Name)
		}
		switch c.Op {
		case kafka.OpSet:
			if c.Value == nil {
				delete(next, c.Name) // legacy AlterConfigs with a null value
				continue
			}
			if err := s.validate(*c.Value); err != nil {
				return err
			}
			next[c.Name] = *c.Value
		case kafka.OpDelete:
			delete(next, c.Name)
		case kafka.OpAppend, kafka.OpSubtract:
			if s.Type != tList {
				return fmt.Errorf("%w: %s is not a list", kerr.InvalidConfig, c.Name)
			}
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			base, ok := next[c.Name]
			if !ok {
				if typ == kmsg.ConfigResourceTypeTopic {
					base, _, _ = b.topicValue(dyn, nil, s)
				} else {
					base, _, _ = b.brokerValueFrom(dyn, c.Name)
				}
			}
			items := splitList(base)
			for _, it := range splitList(v) {
				if c.Op == kafka.OpAppend && !slices.Contains(items, it) {
					items = append(items, it)
				}
				if c.Op == kafka.OpSubtract {
					items = slices.DeleteFunc(items, func(x string) bool { return x == it })
				}
			}
			nv := strings.Join(items, ",")
			if err := s.validate(nv); err != nil {
				return err
			}
			next[c.Name] = nv
		default:
			return fmt.Errorf("%w: unknown config operation %d", kerr.InvalidRequest, c.Op)
		}
	}
	if validateOnly {
		return nil
	}
	rec := metadata.Record{Type: metadata.SetBrokerConfigs, Configs: next}
	if typ == kmsg.ConfigResourceTypeTopic {
		rec = metadata.Record{Type: metadata.SetTopicConfigs, Topic: name, Configs: next}
	}
	if err := b.commit(rec); err != nil {
		return err
	}
	// Push the new settings to the open logs they concern.
	b.mu.RLock()
	defer b.mu.RUnlock()
	dyn = b.state.BrokerConfigs()
	for _, t := range b.state.Topics() {
		if topic != nil && t.Name != topic.Name {
			continue
		}
		lc := b.logConfigFrom(dyn, t.Configs)
		for _, p := range t.Partitions {
			if pt := b.parts[storage.TopicPartition{Topic: t.Name, Partition: p.ID}]; pt != nil {
				pt.log.SetConfig(lc)
			}
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
