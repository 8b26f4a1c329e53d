package cli

import (
	"strings"
	"testing"
)

func testTopicCommands(t *testing.T, bs string) {
	out := mustRun(t, bs, "", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=60000")
	if !strings.Contains(out, "orders") {
		t.Fatalf("create output %q lacks the topic", out)
	}

	var list []topicRow
	mustJSON(t, mustRun(t, bs, "", "topic", "list", "-o", "json"), &list)
	found := false
	for _, r := range list {
		if r.Name == "orders" {
			found = true
			if r.Partitions != 3 || r.ReplicationFactor != 1 {
				t.Errorf("listed %+v, want 3 partitions, rf 1", r)
			}
		}
	}
	if !found {
		t.Fatalf("topic list %+v lacks orders", list)
	}
	table := mustRun(t, bs, "", "topic", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "TOPIC ") || strings.Index(lines[0], "PARTITIONS") != strings.Index(lines[1], strings.Fields(lines[1])[1]) {
		t.Errorf("table not aligned:\n%s", table)
	}

	var d topicDescription
	mustJSON(t, mustRun(t, bs, "", "topic", "describe", "orders", "-o", "json"), &d)
	if len(d.Partitions) != 3 || configValue(d, "retention.ms") != "60000" {
		t.Fatalf("describe = %+v, want 3 partitions and retention.ms=60000", d)
	}
	for i, p := range d.Partitions {
		if p.Partition != int32(i) || p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.StartOffset != 0 || p.EndOffset != 0 {
			t.Errorf("partition %+v", p)
		}
	}
	var y strings.Builder
	y.WriteString(mustRun(t, bs, "", "topic", "describe", "orders", "-o", "yaml"))
	if !strings.Contains(y.String(), "name: orders") || !strings.Contains(y.String(), "end_offset: 0") {
		t.Errorf("yaml describe:\n%s", y.String())
	}
	if tab := mustRun(t, bs, "", "topic", "describe", "orders"); !strings.Contains(tab, "PARTITION") || !strings.Contains(tab, "retention.ms") {
		t.Errorf("table describe:\n%s", tab)
	}

	mustRun(t, bs, "", "topic", "alter", "orders", "--partitions", "4", "--config", "cleanup.policy=compact", "--delete-config", "retention.ms")
	d = topicDescription{}
	mustJSON(t, mustRun(t, bs, "", "topic", "describe", "orders", "-o", "json"), &d)
	if len(d.Partitions) != 4 || configValue(d, "cleanup.policy") != "compact" || configValue(d, "retention.ms") != "" {
		t.Fatalf("after alter: %+v", d)
	}

	mustRun(t, bs, "", "topic", "delete", "orders")
	list = nil
	mustJSON(t, mustRun(t, bs, "", "topic", "list", "-o", "json"), &list)
	for _, r := range list {
		if r.Name == "orders" {
			t.Fatalf("orders still listed after delete")
		}
	}
}

func configValue(d topicDescription, name string) string {
	for _, c := range d.Configs {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
