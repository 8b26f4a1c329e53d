package kafka

import (
	"math/rand/v2"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Fetch sessions (KIP-227). A session remembers the partitions a client
// fetches so that incremental requests list only what changed and
// incremental responses carry only partitions with news. Sessions are
// bounded by max.incremental.fetch.session.cache.slots; when full, the least
// recently used one is evicted (its client gets FETCH_SESSION_ID_NOT_FOUND
// and starts a new session).

// sessionKey names a partition in a session: by name before Fetch v13, by
// topic id from v13.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

type sessionPart struct {
	key       sessionKey
	offset    int64
	maxBytes  int32
	leaderEp  int32
	sent      bool // a response has carried this partition
	hw, lso   int64
	logStart  int64
	lastError int16
}

type fetchSession struct {
	mu    sync.Mutex // one request of the session at a time
	id    int32
	epoch int32 // the epoch the next request must carry
	parts []*sessionPart
	index map[sessionKey]*sessionPart
	used  uint64
}

type fetchSessions struct {
	mu    sync.Mutex
	slots int
	m     map[int32]*fetchSession
	clock uint64
}

func newFetchSessions(slots int) *fetchSessions {
	return &fetchSessions{slots: slots, m: map[int32]*fetchSession{}}
}

// create starts a session, evicting the least recently used if full.
// It returns nil if sessions are disabled (zero slots).
func (fs *fetchSessions) create() *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.slots <= 0 {
		return nil
	}
	if len(fs.m) >= fs.slots {
		var lru *fetchSession
		for _, s := range fs.m {
			if lru == nil || s.used < lru.used {
				lru = s
			}
		}
		delete(fs.m, lru.id)
	}
	var id int32
	for id == 0 || fs.m[id] != nil {
		id = rand.Int32()
	}
	fs.clock++
	s := &fetchSession{id: id, epoch: 1, index: map[sessionKey]*sessionPart{}, used: fs.clock}
	fs.m[id] = s
	return s
}

// get returns the session for an incremental request of epoch, or the
// error the client gets.
func (fs *fetchSessions) get(id, epoch int32) (*fetchSession, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.m[id]
	if s == nil {
		return nil, kerr.FetchSessionIDNotFound
	}
	fs.clock++
	s.used = fs.clock
	return s, nil
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.m, id)
}

// upsert adds or updates a partition of the session. Caller holds s.mu.
func (s *fetchSession) upsert(k sessionKey, offset int64, maxBytes, leaderEp int32) {
	if p := s.index[k]; p != nil {
		p.offset, p.maxBytes, p.leaderEp = offset, maxBytes, leaderEp
		return
	}
	p := &sessionPart{key: k, offset: offset, maxBytes: maxBytes, leaderEp: leaderEp}
	s.parts = append(s.parts, p)
	s.index[k] = p
}

// forget removes a partition. Caller holds s.mu.
func (s *fetchSession) forget(k sessionKey) {
	if s.index[k] == nil {
		return
	}
	delete(s.index, k)
	for i, p := range s.parts {
		if p.key == k {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}
