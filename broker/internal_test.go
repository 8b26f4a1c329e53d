package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/broker/group"
)

func TestOffsetsStoreAppendReplay(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"offsets.topic.num.partitions": "4"})
	ctx := context.Background()
	if err := tb.EnsureOffsetsTopic(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.EnsureOffsetsTopic(ctx); err != nil {
		t.Fatal("second EnsureOffsetsTopic:", err)
	}
	top, _ := tb.Topic(offsetsTopic)
	if len(top.Partitions) != 4 || top.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("offsets topic %+v", top)
	}
	st := tb.OffsetsStore()
	for i := range 5 {
		kvs := []group.KV{{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}, {Key: []byte("gone")}}
		if err := st.Append(ctx, 2, kvs); err != nil {
			t.Fatal(err)
		}
	}
	replay := func(st group.Store) []string {
		var out []string
		err := st.Replay(ctx, 2, func(k, v []byte) error {
			if v == nil {
				out = append(out, string(k)+"=<nil>")
			} else {
				out = append(out, string(k)+"="+string(v))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := replay(st)
	if len(got) != 10 || got[0] != "k0=v0" || got[1] != "gone=<nil>" || got[8] != "k4=v4" {
		t.Fatalf("replay %v", got)
	}
	tb.stop()
	tb = startBroker(t, tb.dir, map[string]string{"offsets.topic.num.partitions": "4"})
	if again := replay(tb.OffsetsStore()); fmt.Sprint(again) != fmt.Sprint(got) {
		t.Fatalf("after restart %v", again)
	}
	if err := tb.DeleteTopic(ctx, offsetsTopic); err == nil {
		t.Fatal("deleted the internal offsets topic")
	}
}
