package streams

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteRemovesInternalTopics deletes a running job with a
// repartition and two changelogs, on two instances: its internal topics
// and consumer groups go; its sink and dead-letter topics stay.
func TestDeleteRemovesInternalTopics(t *testing.T) {
	addr := startKafka(t)
	createTopics(t, addr, "del-in")
	a, _ := startRealEngine(t, addr)
	startRealEngine(t, addr)
	job := `name: del
sources: [{name: s, topic: del-in}]
steps:
  - key_by: user
  - aggregate: {fields: {n: count}}
sink: {topic: del-out}
`
	ctx := context.Background()
	if _, err := a.Apply(ctx, []byte(job)); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("del-in"),
		kgo.ConsumeTopics("del-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(`{"user": "u1"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for n := 0; n == 0; {
		n = cl.PollFetches(rctx).NumRecords()
		if rctx.Err() != nil {
			t.Fatal("no output")
		}
	}
	adm := kadm.NewClient(cl)
	internal := []string{"_sluice-streams-del-repartition", "_sluice-streams-del-changelog-2"}
	td, err := adm.ListTopics(ctx, internal...)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range internal {
		if !td.Has(topic) {
			t.Fatalf("internal topic %s missing before delete: %v", topic, td.Names())
		}
	}
	if err := a.Delete(ctx, "del"); err != nil {
		t.Fatal(err)
	}
	td, err = adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range internal {
		if td.Has(topic) {
			t.Errorf("internal topic %s still exists after delete", topic)
		}
	}
	for _, topic := range []string{"del-out", "_sluice-streams-del-dlq"} {
		if !td.Has(topic) {
			t.Errorf("user topic %s was deleted", topic)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"sluice-streams-del", "sluice-streams-del-2"} {
		if _, ok := groups[g]; ok {
			t.Errorf("group %s still exists after delete", g)
		}
	}
}
