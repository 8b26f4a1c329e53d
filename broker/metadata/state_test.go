package metadata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func parts(n, from int32) []Partition {
	var ps []Partition
	for i := from; i < from+n; i++ {
		ps = append(ps, Partition{ID: i, Replicas: []int32{0}})
	}
	return ps
}

func script() []Record {
	return []Record{
		{Type: CreateTopic, Topic: "a", TopicID: [16]byte{1}, Partitions: parts(3, 0), Configs: map[string]string{"retention.ms": "1000"}},
		{Type: CreateTopic, Topic: "b", TopicID: [16]byte{2}, Partitions: parts(1, 0)},
		{Type: CreatePartitions, Topic: "b", Partitions: parts(2, 1)},
		{Type: SetTopicConfigs, Topic: "a", Configs: map[string]string{"cleanup.policy": "compact"}},
		{Type: DeleteTopic, Topic: "a"},
		{Type: CreateTopic, Topic: "a", TopicID: [16]byte{3}, Partitions: parts(1, 0)},
		{Type: ProducerIDs, NextProducerID: 1000},
		{Type: SetBrokerConfigs, Configs: map[string]string{"num.partitions": "3"}},
	}
}

func TestApplyScript(t *testing.T) {
	s := New()
	for i, r := range script() {
		if err := s.Apply(r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	a, ok := s.Topic("a")
	if !ok || a.ID != [16]byte{3} || len(a.Partitions) != 1 || len(a.Configs) != 0 {
		t.Fatalf("a = %+v", a)
	}
	if _, ok := s.TopicByID([16]byte{1}); ok {
		t.Fatal("old id of a still known")
	}
	b, _ := s.TopicByID([16]byte{2})
	if b == nil || len(b.Partitions) != 3 || b.Partitions[2].ID != 2 {
		t.Fatalf("b = %+v", b)
	}
	if s.NextProducerID() != 1000 || s.BrokerConfigs()["num.partitions"] != "3" || s.Applied() != 8 {
		t.Fatalf("state %+v", s)
	}
	if names := []string{s.Topics()[0].Name, s.Topics()[1].Name}; names[0] != "a" || names[1] != "b" {
		t.Fatalf("topics %v", names)
	}
}

func TestApplyRejects(t *testing.T) {
	s := New()
	must := func(r Record, want error) {
		t.Helper()
		before := s.Applied()
		err := s.Apply(r)
		if !errors.Is(err, want) {
			t.Fatalf("Apply(%+v) = %v, want %v", r, err, want)
		}
		if s.Applied() != before {
			t.Fatal("a rejected record was applied")
		}
	}
	if err := s.Apply(Record{Type: CreateTopic, Topic: "t", TopicID: [16]byte{9}, Partitions: parts(1, 0)}); err != nil {
		t.Fatal(err)
	}
	must(Record{Type: CreateTopic, Topic: "t", TopicID: [16]byte{8}, Partitions: parts(1, 0)}, kerr.TopicAlreadyExists)
	must(Record{Type: CreateTopic, Topic: "u", TopicID: [16]byte{9}, Partitions: parts(1, 0)}, kerr.InvalidRequest)
	must(Record{Type: CreateTopic, Topic: "u", TopicID: [16]byte{7}}, kerr.InvalidPartitions)
	must(Record{Type: CreatePartitions, Topic: "t", Partitions: parts(1, 3)}, kerr.InvalidPartitions)
	must(Record{Type: DeleteTopic, Topic: "nope"}, kerr.UnknownTopicOrPartition)
	must(Record{Type: ProducerIDs, NextProducerID: -1}, kerr.InvalidRequest)
	must(Record{Type: "bogus"}, kerr.InvalidRequest)
}

// Topics handed out are not changed by later records.
func TestTopicsImmutable(t *testing.T) {
	s := New()
	rs := script()
	_ = s.Apply(rs[1])
	b, _ := s.Topic("b")
	_ = s.Apply(rs[2])
	if len(b.Partitions) != 1 {
		t.Fatal("an earlier *Topic changed")
	}
}

func TestLogReplayAndTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta", "metadata.log")
	l, recs, err := OpenLog(path)
	if err != nil || len(recs) != 0 {
		t.Fatal(recs, err)
	}
	for _, r := range script() {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// A torn entry at the tail is dropped on open.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3})
	f.Close()
	l, recs, err = OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !reflect.DeepEqual(recs, script()) {
		t.Fatalf("replayed %+v", recs)
	}
	if err := l.Append(Record{Type: ProducerIDs, NextProducerID: 2000}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	recs, n := Decode(data)
	if n != len(data) || len(recs) != len(script())+1 {
		t.Fatalf("after append: %d records, %d/%d bytes valid", len(recs), n, len(data))
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(script()[0])
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, n := Decode(data)
		if n > len(data) || (n == 0 && len(recs) > 0) {
			t.Fatal("bad prefix length")
		}
		s := New()
		for _, r := range recs {
			_ = s.Apply(r)
		}
	})
}
