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
)

// Log is the append-only file of metadata Records, the edge of this package
// that does I/O. Each entry is a 4-byte big-endian length, a 4-byte CRC-32C
// of the payload, and the payload (the Record as JSON). Every Append is
// fsynced before it returns. A torn or corrupt tail (a crash mid-write) is
// truncated on open: such an entry was never acknowledged.
type Log struct {
	mu sync.Mutex
	f  *os.File
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxEntry bounds one entry so a damaged length cannot make us allocate wildly.
const maxEntry = 64 << 20

// OpenLog opens (creating if needed) the log at path and returns the records
// it holds, in order.
func OpenLog(path string) (*Log, []Record, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	recs, good := Decode(data)
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Log{f: f}, recs, nil
}

// Decode parses the entries of a log file's contents and returns the records
// and the length of the valid prefix.
func Decode(data []byte) ([]Record, int) {
	var recs []Record
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
		var r Record
		if err := json.Unmarshal(payload, &r); err != nil {
			break
		}
		recs = append(recs, r)
		pos += 8 + n
	}
	return recs, pos
}

// Encode returns r as one log entry.
func Encode(r Record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(payload) > maxEntry {
		return nil, errors.New("metadata record too large")
	}
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// Append writes r and fsyncs it.
func (l *Log) Append(r Record) error {
	b, err := Encode(r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("metadata log write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("metadata log sync: %w", err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
