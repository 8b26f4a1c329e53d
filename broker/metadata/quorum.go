package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Hooks connect the quorum's replicated log to the owner of the State. Raft
// calls them on its own goroutine, one at a time, in log order.
type Hooks interface {
	// ApplyRecord applies a committed record; its error goes back to the
	// caller of Quorum.Apply (and is the same on every replica).
	ApplyRecord(Record) error
	// SnapshotState serializes the state as of the last applied record.
	SnapshotState() ([]byte, error)
	// RestoreState replaces the state with a snapshot's.
	RestoreState([]byte) error
}

// QuorumConfig configures a Quorum.
type QuorumConfig struct {
	// Dir holds the Raft log, stable store and snapshots.
	Dir    string
	NodeID int32
	// Voters maps each controller's node id to its Raft address
	// (controller.quorum.voters). Empty, or only this node: a quorum of one
	// that needs no network.
	Voters map[int32]string
	// Bind is the local Raft listen address when there are other voters;
	// default: this node's entry in Voters.
	Bind string
	// Observer is this node's Raft address when it is not among Voters: a
	// broker-only node (process.roles=broker) that follows the log as a
	// Raft non-voter once the active controller added it (AddObserver).
	Observer string
	Hooks    Hooks
	Logger   *slog.Logger
	// SnapshotThreshold is how many entries since the last snapshot make
	// Raft take another (default 4096).
	SnapshotThreshold uint64
}

// Quorum is this node's member of the Raft group that replicates the
// metadata records (KRaft's role). With one voter it runs the very same code
// path: a record is committed once fsynced in the local log, then applied.
type Quorum struct {
	cfg   QuorumConfig
	raft  *raft.Raft
	store *FileStore
	trans raft.Transport
	id    raft.ServerID
}

// ErrNotController is returned by Apply on a node that is not the active
// controller (the Raft leader); the request belongs to the controller.
var ErrNotController = fmt.Errorf("%w: this node is not the active controller", kerr.NotController)

// ParseVoters parses controller.quorum.voters: "id@host:port,...".
func ParseVoters(s string) (map[int32]string, error) {
	out := map[int32]string{}
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		ids, addr, ok := strings.Cut(v, "@")
		id, err := strconv.ParseInt(ids, 10, 32)
		if !ok || err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port", v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller.quorum.voters: %q: %w", v, err)
		}
		if _, dup := out[int32(id)]; dup {
			return nil, fmt.Errorf("controller.quorum.voters: node %d listed twice", id)
		}
		out[int32(id)] = addr
	}
	return out, nil
}

// OpenQuorum opens the Raft log under cfg.Dir (bootstrapping a new group of
// cfg.Voters on first start) and starts this node's Raft member. Committed
// records are replayed through Hooks once a leader is known; call WaitReady
// before reading the state.
func OpenQuorum(cfg QuorumConfig) (*Quorum, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hooks == nil {
		return nil, errors.New("metadata quorum: Hooks are required")
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 4096
	}
	q := &Quorum{cfg: cfg, id: raft.ServerID(strconv.Itoa(int(cfg.NodeID)))}
	single := len(cfg.Voters) == 0 || (len(cfg.Voters) == 1 && cfg.Voters[cfg.NodeID] != "")
	observer := len(cfg.Voters) > 0 && cfg.Voters[cfg.NodeID] == ""
	if observer && cfg.Observer == "" {
		return nil, fmt.Errorf("metadata quorum: node %d is not among the voters (a broker-only node needs its own Raft address to follow the metadata)", cfg.NodeID)
	}
	if observer {
		single = false
	}
	logw := &slogWriter{log: cfg.Logger}
	rc := raft.DefaultConfig()
	rc.LocalID = q.id
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: logw})
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = 1024
	rc.NoLegacyTelemetry = true
	if single {
		// Nobody to hear from: become leader as soon as the timer allows.
		rc.HeartbeatTimeout = 50 * time.Millisecond
		rc.ElectionTimeout = 50 * time.Millisecond
		rc.LeaderLeaseTimeout = 50 * time.Millisecond
	} else {
		rc.HeartbeatTimeout = 500 * time.Millisecond
		rc.ElectionTimeout = 500 * time.Millisecond
		rc.LeaderLeaseTimeout = 250 * time.Millisecond
		rc.CommitTimeout = 10 * time.Millisecond
	}

	var err error
	if q.store, err = OpenFileStore(cfg.Dir); err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStore(cfg.Dir, 2, logw)
	if err != nil {
		q.store.Close()
		return nil, err
	}
	var servers []raft.Server
	if single {
		addr, t := raft.NewInmemTransport(raft.ServerAddress("node-" + string(q.id)))
		q.trans = t
		servers = []raft.Server{{Suffrage: raft.Voter, ID: q.id, Address: addr}}
	} else {
		self := cfg.Voters[cfg.NodeID]
		if observer {
			self = cfg.Observer
		}
		bind := cfg.Bind
		if bind == "" {
			bind = self
		}
		adv, err := net.ResolveTCPAddr("tcp", self)
		if err != nil {
			q.store.Close()
			return nil, fmt.Errorf("controller address: %w", err)
		}
		t, err := raft.NewTCPTransport(bind, adv, 3, 5*time.Second, logw)
		if err != nil {
			q.store.Close()
			return nil, fmt.Errorf("controller listener: %w", err)
		}
		q.trans = t
		ids := make([]int32, 0, len(cfg.Voters))
		for id := range cfg.Voters {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(id))), Address: raft.ServerAddress(cfg.Voters[id])})
		}
	}
	existing, err := raft.HasExistingState(q.store, q.store, snaps)
	if err != nil {
		q.closeTransport()
		q.store.Close()
		return nil, err
	}
	if !existing && !observer {
		// Every voter bootstraps the same configuration; Raft tolerates that.
		if err := raft.BootstrapCluster(rc, q.store, q.store, snaps, q.trans, raft.Configuration{Servers: servers}); err != nil {
			q.closeTransport()
			q.store.Close()
			return nil, fmt.Errorf("metadata quorum bootstrap: %w", err)
		}
	}
	q.raft, err = raft.NewRaft(rc, (*fsm)(q), q.store, q.store, snaps, q.trans)
	if err != nil {
		q.closeTransport()
		q.store.Close()
		return nil, fmt.Errorf("metadata quorum: %w", err)
	}
	return q, nil
}

func (q *Quorum) closeTransport() {
	if c, ok := q.trans.(io.Closer); ok {
		c.Close()
	}
}

// WaitReady waits until a leader is known and this node has applied every
// record committed before the call (a Barrier on the leader). A single node
// elects itself within about 100 ms.
func (q *Quorum) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if q.raft.State() == raft.Leader {
			if err := q.raft.Barrier(timeoutOf(ctx)).Error(); err == nil {
				return nil
			} else if !isNotLeader(err) {
				return fmt.Errorf("metadata quorum: %w", err)
			}
		} else if addr, _ := q.raft.LeaderWithID(); addr != "" {
			// A follower: wait until what it holds is applied.
			if q.raft.AppliedIndex() >= q.raft.LastIndex() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata quorum: no controller elected: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 10 * time.Second
}

func isNotLeader(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// Apply replicates r and returns once it is committed and applied on this
// node, with the error ApplyRecord gave. On a node that is not the leader it
// returns ErrNotController.
func (q *Quorum) Apply(ctx context.Context, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(data) > maxEntry {
		return fmt.Errorf("%w: metadata record too large", kerr.InvalidRequest)
	}
	f := q.raft.Apply(data, timeoutOf(ctx))
	if err := f.Error(); err != nil {
		if isNotLeader(err) {
			return ErrNotController
		}
		if errors.Is(err, raft.ErrEnqueueTimeout) {
			return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
		}
		return fmt.Errorf("%w: metadata quorum: %w", kerr.KafkaStorageError, err)
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// RaftState is this node's Raft state: "leader", "candidate", "follower"
// or "shutdown" (KRaft's current-state metric).
func (q *Quorum) RaftState() string { return strings.ToLower(q.raft.State().String()) }

// IsLeader reports whether this node is the active controller.
func (q *Quorum) IsLeader() bool { return q.raft.State() == raft.Leader }

// Leader is the active controller's node id, or -1 when none is known.
func (q *Quorum) Leader() int32 {
	_, id := q.raft.LeaderWithID()
	if id == "" {
		return -1
	}
	n, err := strconv.Atoi(string(id))
	if err != nil {
		return -1
	}
	return int32(n)
}

// AddObserver adds node id, reachable at addr, to the Raft group as a
// non-voter that receives every record (a broker-only node). It runs on
// the leader; adding a node already there is a no-op.
func (q *Quorum) AddObserver(ctx context.Context, id int32, addr string) error {
	sid := raft.ServerID(strconv.Itoa(int(id)))
	if f := q.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.ID == sid && string(s.Address) == addr {
				return nil
			}
		}
	}
	if err := q.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, timeoutOf(ctx)).Error(); err != nil {
		if isNotLeader(err) {
			return ErrNotController
		}
		return fmt.Errorf("metadata quorum: adding observer %d: %w", id, err)
	}
	return nil
}

// Voters returns the node ids of the quorum's voters, sorted.
func (q *Quorum) Voters() []int32 {
	f := q.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []int32
	for _, s := range f.Configuration().Servers {
		if n, err := strconv.Atoi(string(s.ID)); err == nil && s.Suffrage == raft.Voter {
			out = append(out, int32(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// AppliedIndex is the Raft index of the last record applied on this node.
func (q *Quorum) AppliedIndex() uint64 { return q.raft.AppliedIndex() }

// Snapshot takes a snapshot now and compacts the log behind it.
func (q *Quorum) Snapshot() error { return q.raft.Snapshot().Error() }

// Close stops this node's Raft member and closes its files.
func (q *Quorum) Close() error {
	err := q.raft.Shutdown().Error()
	q.closeTransport()
	return errors.Join(err, q.store.Close())
}

// fsm adapts the Quorum's Hooks to raft.FSM.
type fsm Quorum

func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var r Record
	if err := json.Unmarshal(l.Data, &r); err != nil {
		return fmt.Errorf("%w: undecodable metadata record at index %d: %w", kerr.InvalidRequest, l.Index, err)
	}
	return f.cfg.Hooks.ApplyRecord(r)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	data, err := f.cfg.Hooks.SnapshotState()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(data), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	return f.cfg.Hooks.RestoreState(data)
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// slogWriter turns Raft's log lines (warnings and errors only) into slog
// records.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		if len(line) > 0 {
			w.log.Warn("metadata quorum", "raft", string(line))
		}
	}
	return len(p), nil
}

// removeIfExists removes path, ignoring its absence.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ImportLegacyLog moves the records of a metadata.log written before the
// metadata moved to Raft into the quorum as one legacy_import entry, then
// removes the file. imported is State.LegacyImported: true when a crash came
// between the import's commit and the file's removal.
func (q *Quorum) ImportLegacyLog(ctx context.Context, path string, imported bool) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	if !imported {
		l, recs, err := OpenLog(path)
		if err != nil {
			return err
		}
		l.Close()
		if len(recs) > 0 {
			if err := q.Apply(ctx, Record{Type: LegacyImport, Records: recs}); err != nil {
				return fmt.Errorf("importing %s: %w", path, err)
			}
		}
	}
	return removeIfExists(path)
}
