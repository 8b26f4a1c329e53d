package datagen

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

type offsets map[string]any

// offsets is a task context outside a worker: no Kafka.
func (offsets) Bootstrap() []string   { return nil }
func (offsets) Producer() *kgo.Client { return nil }

func (o offsets) Offset(map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return o
}

func TestGeneratesAndResumes(t *testing.T) {
	c := &connector{}
	if err := c.Start(map[string]string{"kafka.topic": "t", "records.per.second": "100000", "iterations": "50"}); err != nil {
		t.Fatal(err)
	}
	tcs, _ := c.TaskConfigs(3)
	if len(tcs) != 3 || tcs[2]["task.index"] != "2" {
		t.Fatalf("task configs = %v", tcs)
	}
	tk := &task{}
	if err := tk.Start(offsets{"seq": float64(9)}, tcs[1]); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for len(got) < 40 {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.SourceOffset["seq"].(int64))
			if r.Key != r.Value.(map[string]any)["id"] {
				t.Fatal("key is not the id")
			}
		}
	}
	if got[0] != 10 || got[len(got)-1] != 49 || len(got) != 40 {
		t.Fatalf("seqs %d..%d (%d)", got[0], got[len(got)-1], len(got))
	}
	// Done: polls return nothing (and return when the context ends).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if recs, err := tk.Poll(ctx); len(recs) != 0 || err != nil {
		t.Fatalf("after iterations: %v %v", recs, err)
	}
	if err := c.Start(map[string]string{}); err == nil {
		t.Fatal("missing kafka.topic accepted")
	}
}
