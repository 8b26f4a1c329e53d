package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Logger names the worker's components log under, Kafka Connect's class
// names so that levels set by existing tooling (for example
// "org.apache.kafka.connect.runtime" = DEBUG) reach them.
const (
	LoggerHerder     = "org.apache.kafka.connect.runtime.distributed.DistributedHerder"
	LoggerWorker     = "org.apache.kafka.connect.runtime.Worker"
	LoggerSourceTask = "org.apache.kafka.connect.runtime.WorkerSourceTask"
	LoggerSinkTask   = "org.apache.kafka.connect.runtime.WorkerSinkTask"
	LoggerErrors     = "org.apache.kafka.connect.runtime.errors.LogReporter"
	LoggerREST       = "org.apache.kafka.connect.runtime.rest.RestServer"
	RootLogger       = "root"
)

// Log4j level names and their slog levels.
var levelNames = []struct {
	name  string
	level slog.Level
}{
	{"TRACE", slog.LevelDebug - 4},
	{"DEBUG", slog.LevelDebug},
	{"INFO", slog.LevelInfo},
	{"WARN", slog.LevelWarn},
	{"ERROR", slog.LevelError},
	{"FATAL", slog.LevelError + 4},
	{"OFF", slog.Level(math.MaxInt32)},
}

// ParseLevel reads a log4j level name (case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	for _, l := range levelNames {
		if strings.EqualFold(strings.TrimSpace(s), l.name) {
			return l.level, nil
		}
	}
	return 0, fmt.Errorf("Invalid log level '%s'.", s)
}

// LevelName is the log4j name of a slog level (the nearest one at or below).
func LevelName(l slog.Level) string {
	name := "TRACE"
	for _, x := range levelNames {
		if l >= x.level {
			name = x.name
		}
	}
	return name
}

// LoggerLevel is one logger's level as /admin/loggers shows it.
type LoggerLevel struct {
	Level        string `json:"level"`
	LastModified *int64 `json:"last_modified"`
}

type explicitLevel struct {
	level    slog.Level
	modified *int64
}

// Loggers holds the worker's named loggers and their levels, changed at
// run time through /admin/loggers. As in log4j, a name's level applies to
// the names below it (dotted prefix) unless they have their own; "root"
// is above every name. Setting a level on a name also sets it on every
// known name below it, as Kafka Connect does.
type Loggers struct {
	base slog.Handler

	mu       sync.Mutex
	root     explicitLevel
	explicit map[string]explicitLevel
	vars     map[string]*slog.LevelVar // known loggers' effective levels
}

// NewLoggers wraps base; the root level starts at the most verbose level
// base enables (INFO when it enables none).
func NewLoggers(base slog.Handler) *Loggers {
	l := &Loggers{base: base, explicit: map[string]explicitLevel{}, vars: map[string]*slog.LevelVar{}}
	l.root.level = slog.LevelInfo
	for _, x := range levelNames[:5] {
		if base.Enabled(context.Background(), x.level) {
			l.root.level = x.level
			break
		}
	}
	return l
}

// under says whether name is ns or below it.
func under(name, ns string) bool {
	return ns == RootLogger || name == ns || strings.HasPrefix(name, ns+".")
}

// effective is the level of name: its own, its nearest ancestor's, or root's.
func (l *Loggers) effective(name string) explicitLevel {
	best, bestLen := l.root, -1
	for ns, lv := range l.explicit {
		if under(name, ns) && len(ns) > bestLen {
			best, bestLen = lv, len(ns)
		}
	}
	return best
}

// Logger returns the logger of a name; its records carry "logger"=name.
func (l *Loggers) Logger(name string) *slog.Logger {
	l.mu.Lock()
	v, ok := l.vars[name]
	if !ok {
		v = new(slog.LevelVar)
		v.Set(l.effective(name).level)
		l.vars[name] = v
	}
	l.mu.Unlock()
	return slog.New(&namedHandler{level: v, inner: l.base.WithAttrs([]slog.Attr{slog.String("logger", name)})})
}

// Level returns a known logger's effective level; ok is false for a name
// no logger has and no level was set on.
func (l *Loggers) Level(name string) (LoggerLevel, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == RootLogger {
		return toLevel(l.root), true
	}
	_, known := l.vars[name]
	own, set := l.explicit[name]
	if !known && !set {
		return LoggerLevel{}, false
	}
	lv := toLevel(l.effective(name))
	if !set {
		lv.LastModified = nil // inherited: never set on this name itself
	} else {
		lv.LastModified = own.modified
	}
	return lv, true
}

func toLevel(e explicitLevel) LoggerLevel {
	return LoggerLevel{Level: LevelName(e.level), LastModified: e.modified}
}

// All lists root and every logger with a level of its own.
func (l *Loggers) All() map[string]LoggerLevel {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]LoggerLevel{RootLogger: toLevel(l.root)}
	for n, e := range l.explicit {
		out[n] = toLevel(e)
	}
	return out
}

// SetLevel sets the level of a namespace and every known logger below it,
// and returns those loggers' names, sorted.
func (l *Loggers) SetLevel(namespace, level string) ([]string, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	e := explicitLevel{level: lv, modified: &now}
	l.mu.Lock()
	defer l.mu.Unlock()
	affected := map[string]bool{namespace: true}
	if namespace == RootLogger {
		l.root = e
	} else {
		l.explicit[namespace] = e
	}
	for n := range l.explicit {
		if under(n, namespace) {
			l.explicit[n] = e
			affected[n] = true
		}
	}
	for n, v := range l.vars {
		if under(n, namespace) {
			affected[n] = true
			l.explicit[n] = e
		}
		v.Set(l.effective(n).level)
	}
	out := make([]string, 0, len(affected))
	for n := range affected {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// namedHandler filters by its logger's level, then hands records to the
// base handler without asking it again, so a logger can be made more
// verbose than the process default.
type namedHandler struct {
	level *slog.LevelVar
	inner slog.Handler
}

func (h *namedHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *namedHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h *namedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &namedHandler{level: h.level, inner: h.inner.WithAttrs(as)}
}

func (h *namedHandler) WithGroup(g string) slog.Handler {
	return &namedHandler{level: h.level, inner: h.inner.WithGroup(g)}
}
