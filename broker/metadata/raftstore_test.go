package metadata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func raftEntries(from, to uint64, term uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	return out
}

func indexes(t *testing.T, s *FileStore) (uint64, uint64) {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}

func TestFileStoreLogSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f, l := indexes(t, s); f != 0 || l != 0 {
		t.Fatalf("empty store: first %d last %d", f, l)
	}
	if err := s.StoreLogs(raftEntries(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(&raft.Log{Index: 12, Term: 1}); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("2")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, l := indexes(t, s); f != 1 || l != 10 {
		t.Fatalf("reopened: first %d last %d", f, l)
	}
	var e raft.Log
	if err := s.GetLog(5, &e); err != nil || e.Term != 1 || !reflect.DeepEqual(e.Data, []byte{5}) {
		t.Fatalf("entry 5: %+v %v", e, err)
	}
	if err := s.GetLog(11, &e); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry 11: %v", err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("term %d %v", v, err)
	}
	if v, err := s.GetUint64([]byte("never set")); err != nil || v != 0 {
		t.Fatalf("unset uint64 %d %v", v, err)
	}
	if _, err := s.Get([]byte("never set")); err == nil || err.Error() != "not found" {
		t.Fatalf("unset key: %v", err)
	}
}

func TestFileStoreTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(raftEntries(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, raftLogFile)
	data, _ := os.ReadFile(path)
	// Half of a fourth entry: a crash mid-write.
	extra := encodeRaftEntry(nil, &raft.Log{Index: 4, Term: 1, Data: []byte("torn")})
	if err := os.WriteFile(path, append(data, extra[:len(extra)/2]...), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f, l := indexes(t, s); f != 1 || l != 3 {
		t.Fatalf("after torn tail: first %d last %d", f, l)
	}
	// The log goes on where the valid prefix ended.
	if err := s.StoreLogs(raftEntries(4, 5, 2)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, l := indexes(t, s); f != 1 || l != 5 {
		t.Fatalf("after append: first %d last %d", f, l)
	}
}

func TestFileStoreDeleteRange(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(raftEntries(1, 20, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 5); err != nil { // compaction behind a snapshot
		t.Fatal(err)
	}
	if err := s.DeleteRange(18, 20); err != nil { // a conflicting suffix
		t.Fatal(err)
	}
	if err := s.DeleteRange(9, 10); err == nil {
		t.Fatal("deleting from the middle was accepted")
	}
	if err := s.StoreLogs(raftEntries(18, 19, 2)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f, l := indexes(t, s); f != 6 || l != 19 {
		t.Fatalf("first %d last %d", f, l)
	}
	var e raft.Log
	if err := s.GetLog(18, &e); err != nil || e.Term != 2 {
		t.Fatalf("entry 18: %+v %v", e, err)
	}
	// Emptied entirely (after a snapshot is installed), the log restarts
	// at any index.
	if err := s.DeleteRange(0, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(raftEntries(50, 51, 3)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, l := indexes(t, s); f != 50 || l != 51 {
		t.Fatalf("first %d last %d", f, l)
	}
}

func TestRaftEntryDecodeRejectsGarbage(t *testing.T) {
	good := encodeRaftEntry(nil, &raft.Log{Index: 1, Term: 1, Data: []byte("x"), Extensions: []byte("y")})[8:]
	if _, ok := decodeRaftEntry(good); !ok {
		t.Fatal("a good entry does not decode")
	}
	for i := range len(good) {
		if _, ok := decodeRaftEntry(good[:i]); ok {
			t.Fatalf("a %d-byte prefix decoded", i)
		}
	}
}
