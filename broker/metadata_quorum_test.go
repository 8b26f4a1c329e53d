package broker

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/broker/metadata"
)

// A data directory written before the metadata moved to Raft keeps its
// topics: metadata.log is imported into the quorum once and removed.
func TestLegacyMetadataLogImported(t *testing.T) {
	dir := t.TempDir()
	kdir := filepath.Join(dir, "kafka")
	if err := os.MkdirAll(kdir, 0o755); err != nil {
		t.Fatal(err)
	}
	props := "version=1\ncluster.id=legacyclusterid\nnode.id=0\n"
	if err := os.WriteFile(filepath.Join(kdir, "meta.properties"), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(kdir, "metadata", "metadata.log")
	l, _, err := metadata.OpenLog(legacy)
	if err != nil {
		t.Fatal(err)
	}
	rec := metadata.Record{Type: metadata.CreateTopic, Topic: "old", TopicID: [16]byte{9}, Partitions: []metadata.Partition{{ID: 0, Replicas: []int32{0}}, {ID: 1, Replicas: []int32{0}}}}
	if err := l.Append(rec); err != nil {
		t.Fatal(err)
	}
	l.Close()

	tb := startBroker(t, dir, nil)
	if top, ok := tb.Topic("old"); !ok || len(top.Partitions) != 2 || tb.Log("old", 1) == nil {
		t.Fatalf("legacy topic after import: %v %v", top, ok)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Fatalf("metadata.log still there: %v", err)
	}
	tb.stop()

	tb = startBroker(t, dir, nil)
	if _, ok := tb.Topic("old"); !ok {
		t.Fatal("legacy topic lost on the second start")
	}
}
