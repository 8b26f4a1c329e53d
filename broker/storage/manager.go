package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// deletedSuffix marks a partition directory being removed; a crash midway
// leaves it to be finished at the next Open.
const deletedSuffix = ".deleted"

// Manager owns the partition logs under one data directory. Its lock guards
// only the map of open logs; appends go straight to each Log.
type Manager struct {
	cfg    ManagerConfig
	logger *slog.Logger

	mu      sync.RWMutex
	logs    map[TopicPartition]*Log
	opening map[TopicPartition]chan struct{}
}

// Open prepares the data directory and finishes interrupted deletions.
// Partitions are opened individually with OpenPartition.
func Open(cfg ManagerConfig) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: ManagerConfig.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 5 * time.Minute
	}
	if cfg.CleanerBackoff <= 0 {
		cfg.CleanerBackoff = 15 * time.Second
	}
	if cfg.ProducerIDExpiration <= 0 {
		cfg.ProducerIDExpiration = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, storageErr(err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, storageErr(err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deletedSuffix) {
			os.RemoveAll(filepath.Join(cfg.Dir, e.Name()))
		}
	}
	return &Manager{cfg: cfg, logger: cfg.Logger, logs: make(map[TopicPartition]*Log), opening: make(map[TopicPartition]chan struct{})}, nil
}

func (m *Manager) partitionDir(tp TopicPartition) string {
	return filepath.Join(m.cfg.Dir, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
}

// OpenPartition opens (recovering if needed) or creates the log of a
// partition in <Dir>/<topic>-<partition>. If it is already open it returns
// the open Log and leaves its config as is.
func (m *Manager) OpenPartition(topic string, partition int32, cfg LogConfig) (*Log, error) {
	if topic == "" || topic == "." || topic == ".." || strings.ContainsAny(topic, "/\\\x00") || partition < 0 {
		return nil, fmt.Errorf("%w: bad partition %q/%d", kerr.InvalidTopicException, topic, partition)
	}
	tp := TopicPartition{topic, partition}
	for {
		m.mu.Lock()
		if l := m.logs[tp]; l != nil {
			m.mu.Unlock()
			return l, nil
		}
		if ch := m.opening[tp]; ch != nil {
			// Someone else is opening (recovering) it; wait and look again.
			m.mu.Unlock()
			<-ch
			continue
		}
		ch := make(chan struct{})
		m.opening[tp] = ch
		m.mu.Unlock()

		// Recovery can take a while: do it without the manager lock, so other
		// partitions keep serving.
		l, err := openLog(m.partitionDir(tp), tp, cfg, m.logger, m.cfg.Now)
		m.mu.Lock()
		delete(m.opening, tp)
		if err == nil {
			l.onClose = func() {
				m.mu.Lock()
				if m.logs[tp] == l {
					delete(m.logs, tp)
				}
				m.mu.Unlock()
			}
			m.logs[tp] = l
		}
		close(ch)
		m.mu.Unlock()
		return l, err
	}
}

// Partition returns the open log of a partition, or nil.
func (m *Manager) Partition(topic string, partition int32) *Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.logs[TopicPartition{topic, partition}]
}

// DeletePartition closes the partition's log (if open) and removes its data.
// The directory is first renamed, so a crash midway cannot resurrect it.
func (m *Manager) DeletePartition(topic string, partition int32) error {
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	l := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if l != nil {
		l.appendMu.Lock()
		l.removeDir = true
		l.onClose = nil
		l.appendMu.Unlock()
		if err := l.Close(); err != nil {
			m.logger.Warn("closing deleted partition", "topic", topic, "partition", partition, "err", err)
		}
	}
	dir := m.partitionDir(tp)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	gone := fmt.Sprintf("%s.%d%s", dir, time.Now().UnixNano(), deletedSuffix)
	if err := os.Rename(dir, gone); err != nil {
		return storageErr(err)
	}
	if err := syncDir(m.cfg.Dir); err != nil {
		return storageErr(err)
	}
	return storageErr(os.RemoveAll(gone))
}

// OnDisk lists the partition directories present, for startup.
func (m *Manager) OnDisk() ([]TopicPartition, error) {
	entries, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, storageErr(err)
	}
	var out []TopicPartition
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), deletedSuffix) {
			continue
		}
		if tp, ok := parsePartitionDir(e.Name()); ok {
			out = append(out, tp)
		}
	}
	return out, nil
}

func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

func (m *Manager) openLogs() []*Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	return out
}

// Run drives flush.ms, retention, compaction and checkpointing until ctx is
// done. Errors on one partition are logged and do not stop the others.
func (m *Manager) Run(ctx context.Context) error {
	flushTick := time.NewTicker(time.Second)
	defer flushTick.Stop()
	retention := time.NewTicker(m.cfg.RetentionCheckInterval)
	defer retention.Stop()
	cleaner := time.NewTicker(m.cfg.CleanerBackoff)
	defer cleaner.Stop()
	checkpoint := time.NewTicker(time.Minute)
	defer checkpoint.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flushTick.C:
			now := m.cfg.Now()
			for _, l := range m.openLogs() {
				if err := l.maybeFlushByTime(now); err != nil {
					m.logger.Error("flush failed", "dir", l.dir, "err", err)
				}
			}
		case <-retention.C:
			now := m.cfg.Now()
			for _, l := range m.openLogs() {
				l.ExpireProducers(now, m.cfg.ProducerIDExpiration)
				if n, err := l.ApplyRetention(now); err != nil {
					m.logger.Error("retention failed", "dir", l.dir, "err", err)
				} else if n > 0 {
					m.logger.Info("retention deleted segments", "dir", l.dir, "segments", n)
				}
			}
		case <-cleaner.C:
			now := m.cfg.Now()
			for _, l := range m.openLogs() {
				if ctx.Err() != nil {
					return nil
				}
				if st, err := l.Compact(now); err != nil {
					m.logger.Error("compaction failed", "dir", l.dir, "err", err)
				} else if st.Cleaned {
					m.logger.Info("compacted", "dir", l.dir, "segments", st.Segments, "records_removed", st.RecordsRemoved, "bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter)
				}
			}
		case <-checkpoint.C:
			for _, l := range m.openLogs() {
				if err := l.Checkpoint(); err != nil {
					m.logger.Error("checkpoint failed", "dir", l.dir, "err", err)
				}
			}
		}
	}
}

// Close closes every open log (flush, snapshot, clean-shutdown marker).
func (m *Manager) Close() error {
	var errs []error
	for _, l := range m.openLogs() {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
