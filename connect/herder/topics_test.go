package herder

import "testing"

func TestTopicStatusKeys(t *testing.T) {
	k := topicKey("my-conn", "orders.v1-x")
	if k != "status-topic-orders.v1-x:connector-my-conn" {
		t.Fatalf("key = %s", k)
	}
	c, topic, ok := parseTopicKey(k)
	if !ok || c != "my-conn" || topic != "orders.v1-x" {
		t.Fatalf("parsed %q %q %v", c, topic, ok)
	}
	for _, bad := range []string{"status-topic-x", "status-task-a-1", "status-topic-:connector-c", "status-topic-t:connector-"} {
		if _, _, ok := parseTopicKey(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
