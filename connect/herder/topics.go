package herder

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka Connect's active-topic records in connect-status (KIP-558): key
// status-topic-<topic>:connector-<connector>, value
// {"topic":{"name","connector","task","discoverTimestamp"}}.
const (
	topicStatusPrefix    = "status-topic-"
	topicStatusSeparator = ":connector-"
)

// TopicStatus is one active topic of a connector.
type TopicStatus struct {
	Name              string `json:"name"`
	Connector         string `json:"connector"`
	Task              int    `json:"task"`
	DiscoverTimestamp int64  `json:"discoverTimestamp"`
}

type topicStatusValue struct {
	Topic TopicStatus `json:"topic"`
}

func topicKey(connector, topic string) string {
	return topicStatusPrefix + topic + topicStatusSeparator + connector
}

// parseTopicKey splits a topic status key (topic names cannot hold ':').
func parseTopicKey(key string) (connector, topic string, ok bool) {
	rest, ok := strings.CutPrefix(key, topicStatusPrefix)
	if !ok {
		return "", "", false
	}
	topic, connector, ok = strings.Cut(rest, topicStatusSeparator)
	return connector, topic, ok && topic != "" && connector != ""
}

// applyTopicRecord folds an active-topic record; h.mu is held.
func (h *Herder) applyTopicRecord(key string, value []byte) {
	connector, topic, ok := parseTopicKey(key)
	if !ok {
		return
	}
	delete(h.topicsOwed, connector+"\x00"+topic)
	if value == nil {
		if m := h.topics[connector]; m != nil {
			delete(m, topic)
			if len(m) == 0 {
				delete(h.topics, connector)
			}
		}
		return
	}
	var v topicStatusValue
	if json.Unmarshal(value, &v) != nil {
		return
	}
	if h.topics[connector] == nil {
		h.topics[connector] = map[string]TopicStatus{}
	}
	h.topics[connector][topic] = v.Topic
}

// onTopics records topics a task used that the connector's active set does
// not hold yet, as Kafka Connect's workers do on first use.
func (h *Herder) onTopics(connector string, task int, topics []string) {
	var recs []*kgo.Record
	h.mu.Lock()
	for _, t := range topics {
		if _, ok := h.topics[connector][t]; ok || h.topicsOwed[connector+"\x00"+t] {
			continue
		}
		h.topicsOwed[connector+"\x00"+t] = true
		v, _ := json.Marshal(topicStatusValue{Topic: TopicStatus{Name: t, Connector: connector, Task: task, DiscoverTimestamp: time.Now().UnixMilli()}})
		recs = append(recs, &kgo.Record{Topic: h.cfg.StatusTopic, Key: []byte(topicKey(connector, t)), Value: v})
	}
	h.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		h.log.Warn("connect: writing active topics", "connector", connector, "err", err)
		h.mu.Lock()
		for _, r := range recs {
			if c, t, ok := parseTopicKey(string(r.Key)); ok {
				delete(h.topicsOwed, c+"\x00"+t)
			}
		}
		h.mu.Unlock()
	}
}

// ActiveTopics lists the topics a connector has used since its last
// reset, sorted (GET /connectors/{c}/topics).
func (h *Herder) ActiveTopics(name string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.state.connectors[name]; c == nil || c.config == nil {
		return nil, fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	out := make([]string, 0, len(h.topics[name]))
	for t := range h.topics[name] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// ResetTopics empties a connector's active topic set with tombstones
// (PUT /connectors/{c}/topics/reset).
func (h *Herder) ResetTopics(ctx context.Context, name string) error {
	if !h.exists(name) {
		return fmt.Errorf("Connector %s not found: %w", name, ErrNotFound)
	}
	return h.deleteTopics(ctx, name)
}

func (h *Herder) deleteTopics(ctx context.Context, name string) error {
	h.mu.Lock()
	var recs []*kgo.Record
	for t := range h.topics[name] {
		recs = append(recs, &kgo.Record{Topic: h.cfg.StatusTopic, Key: []byte(topicKey(name, t))})
	}
	h.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if err := h.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	// Visible to the next read on this worker at once; the status reader
	// applies the same tombstones when it gets to them.
	h.mu.Lock()
	for _, r := range recs {
		h.applyTopicRecord(string(r.Key), nil)
	}
	h.mu.Unlock()
	return nil
}
