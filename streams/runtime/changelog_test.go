package runtime

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Reading a changelog back keeps the entries up to the last meta record
// (tombstones delete) and reports the keys written after it, which a
// restoring task must overwrite.
func TestReadChangelogStopsAtLastMeta(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	topic := ChangelogTopic("cl", 1)
	createTopic(t, cl, topic, 1)
	recs := []*kgo.Record{
		{Key: []byte("0/g/0/a"), Value: []byte(`"a1"`)},
		{Key: []byte("0/g/0/b"), Value: []byte(`"b1"`)},
		{Key: []byte(MetaKey), Value: []byte(`{"offsets": {"in": 3}, "stream_time": 7, "seq": 2}`)},
		{Key: []byte("0/g/0/b"), Value: nil},
		{Key: []byte("0/g/0/c"), Value: []byte(`"c1"`)},
		{Key: []byte(MetaKey), Value: []byte(`{"offsets": {"in": 5}, "stream_time": 9, "seq": 3}`)},
		{Key: []byte("0/g/0/a"), Value: []byte(`"a2"`)}, // the writer died here
		{Key: []byte("0/g/0/d"), Value: []byte(`"d1"`)},
	}
	for _, r := range recs {
		r.Topic = topic
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: RunnerConfig{Bootstrap: []string{addr}}, changelog: topic}
	st, err := r.readChangelog(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.entries) != 2 || string(st.entries["0/g/0/a"]) != `"a1"` || string(st.entries["0/g/0/c"]) != `"c1"` {
		t.Fatalf("entries = %q", st.entries)
	}
	if st.meta.Offsets["in"] != 5 || st.meta.StreamTime != 9 || st.meta.Seq != 3 {
		t.Fatalf("meta = %+v", st.meta)
	}
	slices.Sort(st.orphans)
	if !slices.Equal(st.orphans, []string{"0/g/0/a", "0/g/0/d"}) {
		t.Fatalf("orphans = %q", st.orphans)
	}
}
