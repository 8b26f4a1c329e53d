package metadata

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// FileStore is the Raft log and stable store of the metadata quorum, kept in
// two files of a directory:
//
//	raft.log     the log entries, appended and fsynced by StoreLogs; each is a
//	             4-byte length, a CRC-32C and the encoded entry (the format of
//	             metadata.log, so a torn tail is found and cut the same way)
//	raft.stable  the current term and vote, rewritten whole (tmp, fsync, rename)
//
// Every entry since the last compaction stays in memory too: the metadata log
// is small, and Raft's snapshots (taken every few thousand entries) bound it.
// Entries are contiguous by index; DeleteRange removes a prefix (compaction
// after a snapshot) or a suffix (a follower dropping entries that conflict
// with a new leader's) and rewrites the file.
//
// FileStore implements raft.LogStore, raft.StableStore and
// raft.MonotonicLogStore. It is safe for concurrent use.
type FileStore struct {
	mu      sync.Mutex
	dir     string
	f       *os.File
	entries []raft.Log // entries[i].Index == entries[0].Index + i
	kv      map[string][]byte
}

const (
	raftLogFile    = "raft.log"
	raftStableFile = "raft.stable"
)

var (
	_ raft.LogStore          = (*FileStore)(nil)
	_ raft.StableStore       = (*FileStore)(nil)
	_ raft.MonotonicLogStore = (*FileStore)(nil)
)

// errKeyNotFound is what hashicorp/raft expects from StableStore.Get for a
// key never set: it compares the message, not the value.
var errKeyNotFound = errors.New("not found")

// OpenFileStore opens (creating if needed) the store in dir, cutting a torn
// tail of the log.
func OpenFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &FileStore{dir: dir, kv: map[string][]byte{}}
	if data, err := os.ReadFile(filepath.Join(dir, raftStableFile)); err == nil {
		if err := json.Unmarshal(data, &s.kv); err != nil {
			return nil, fmt.Errorf("%s: %w", raftStableFile, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	path := filepath.Join(dir, raftLogFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	pos := 0
	for len(data)-pos >= 8 {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		crc := binary.BigEndian.Uint32(data[pos+4:])
		if n > maxEntry || len(data)-pos-8 < n {
			break
		}
		payload := data[pos+8 : pos+8+n]
		if crc32.Checksum(payload, castagnoli) != crc {
			break
		}
		e, ok := decodeRaftEntry(payload)
		if !ok || (len(s.entries) > 0 && e.Index != s.entries[len(s.entries)-1].Index+1) {
			break
		}
		s.entries = append(s.entries, e)
		pos += 8 + n
	}
	if pos < len(data) {
		if err := f.Truncate(int64(pos)); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(int64(pos), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

// entry layout: index u64, term u64, type u8, appended-at unix nanos i64,
// data length u32, data, extensions length u32, extensions.
func encodeRaftEntry(dst []byte, e *raft.Log) []byte {
	n := 8 + 8 + 1 + 8 + 4 + len(e.Data) + 4 + len(e.Extensions)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint32(dst, 0) // CRC, filled below
	dst = binary.BigEndian.AppendUint64(dst, e.Index)
	dst = binary.BigEndian.AppendUint64(dst, e.Term)
	dst = append(dst, byte(e.Type))
	var at int64
	if !e.AppendedAt.IsZero() {
		at = e.AppendedAt.UnixNano()
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(at))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Data)))
	dst = append(dst, e.Data...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Extensions)))
	dst = append(dst, e.Extensions...)
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], castagnoli))
	return dst
}

func decodeRaftEntry(p []byte) (raft.Log, bool) {
	var e raft.Log
	if len(p) < 8+8+1+8+4 {
		return e, false
	}
	e.Index = binary.BigEndian.Uint64(p)
	e.Term = binary.BigEndian.Uint64(p[8:])
	e.Type = raft.LogType(p[16])
	if at := int64(binary.BigEndian.Uint64(p[17:])); at != 0 {
		e.AppendedAt = time.Unix(0, at)
	}
	p = p[25:]
	dl := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if dl > len(p) {
		return e, false
	}
	if dl > 0 {
		e.Data = append([]byte(nil), p[:dl]...)
	}
	p = p[dl:]
	if len(p) < 4 {
		return e, false
	}
	el := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if el != len(p) {
		return e, false
	}
	if el > 0 {
		e.Extensions = append([]byte(nil), p...)
	}
	return e, true
}

// FirstIndex implements raft.LogStore.
func (s *FileStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return 0, nil
	}
	return s.entries[0].Index, nil
}

// LastIndex implements raft.LogStore.
func (s *FileStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return 0, nil
	}
	return s.entries[len(s.entries)-1].Index, nil
}

// GetLog implements raft.LogStore. The entry's slices are shared with the
// store; Raft does not modify them.
func (s *FileStore) GetLog(index uint64, log *raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 || index < s.entries[0].Index || index > s.entries[len(s.entries)-1].Index {
		return raft.ErrLogNotFound
	}
	*log = s.entries[index-s.entries[0].Index]
	return nil
}

// StoreLog implements raft.LogStore.
func (s *FileStore) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: the entries are written and fsynced
// before it returns. They must continue the log without a gap (Raft deletes
// a conflicting suffix first, and as a MonotonicLogStore we are emptied
// before a snapshot's successors arrive).
func (s *FileStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return os.ErrClosed
	}
	var buf []byte
	next := uint64(0)
	if len(s.entries) > 0 {
		next = s.entries[len(s.entries)-1].Index + 1
	}
	for _, l := range logs {
		if next != 0 && l.Index != next {
			return fmt.Errorf("raft log: entry %d does not follow %d", l.Index, next-1)
		}
		next = l.Index + 1
		buf = encodeRaftEntry(buf, l)
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("raft log write: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("raft log sync: %w", err)
	}
	for _, l := range logs {
		s.entries = append(s.entries, *l)
	}
	return nil
}

// DeleteRange implements raft.LogStore for a prefix or a suffix of the log
// (the only ranges Raft deletes), rewriting the file.
func (s *FileStore) DeleteRange(lo, hi uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return os.ErrClosed
	}
	if len(s.entries) == 0 {
		return nil
	}
	first, last := s.entries[0].Index, s.entries[len(s.entries)-1].Index
	var keep []raft.Log
	switch {
	case hi < first || lo > last:
		return nil
	case lo <= first && hi >= last:
		keep = nil
	case lo <= first:
		keep = s.entries[hi-first+1:]
	case hi >= last:
		keep = s.entries[:lo-first]
	default:
		return fmt.Errorf("raft log: cannot delete [%d, %d] from the middle of [%d, %d]", lo, hi, first, last)
	}
	var buf []byte
	for i := range keep {
		buf = encodeRaftEntry(buf, &keep[i])
	}
	path := filepath.Join(s.dir, raftLogFile)
	if err := writeFileSync(path, buf); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return err
	}
	s.f.Close()
	s.f = f
	s.entries = append([]raft.Log(nil), keep...)
	return nil
}

// IsMonotonic implements raft.MonotonicLogStore.
func (s *FileStore) IsMonotonic() bool { return true }

// Set implements raft.StableStore.
func (s *FileStore) Set(key, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kv := make(map[string][]byte, len(s.kv)+1)
	for k, v := range s.kv {
		kv[k] = v
	}
	kv[string(key)] = append([]byte(nil), val...)
	data, err := json.Marshal(kv)
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(s.dir, raftStableFile), data); err != nil {
		return err
	}
	s.kv = kv
	return nil
}

// Get implements raft.StableStore.
func (s *FileStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[string(key)]
	if !ok {
		return nil, errKeyNotFound
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 implements raft.StableStore.
func (s *FileStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore; a key never set reads as 0.
func (s *FileStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raft stable store: %q is not a uint64", key)
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the log file.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// writeFileSync replaces path with data durably: a temporary file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
