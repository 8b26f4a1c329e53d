package runtime

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestLoggersLevels(t *testing.T) {
	var buf bytes.Buffer
	l := NewLoggers(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if lv, _ := l.Level(RootLogger); lv.Level != "INFO" || lv.LastModified != nil {
		t.Fatalf("root = %+v", lv)
	}
	sink, herder := l.Logger(LoggerSinkTask), l.Logger(LoggerHerder)
	sink.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug logged at INFO: %s", buf.String())
	}
	// A namespace above the base handler's own level: more verbose works.
	changed, err := l.SetLevel("org.apache.kafka.connect.runtime.WorkerSinkTask", "debug")
	if err != nil || !reflect.DeepEqual(changed, []string{LoggerSinkTask}) {
		t.Fatalf("set = %v %v", changed, err)
	}
	sink.Debug("shown")
	herder.Debug("still hidden")
	if !strings.Contains(buf.String(), "shown") || strings.Contains(buf.String(), "still hidden") || !strings.Contains(buf.String(), "logger="+LoggerSinkTask) {
		t.Fatalf("log = %s", buf.String())
	}
	// Parent namespace overrides its children, as log4j through Kafka.
	changed, _ = l.SetLevel("org.apache.kafka.connect", "ERROR")
	if len(changed) != 3 || changed[0] != "org.apache.kafka.connect" {
		t.Fatalf("changed = %v", changed)
	}
	buf.Reset()
	sink.Warn("dropped")
	herder.Error("kept")
	if strings.Contains(buf.String(), "dropped") || !strings.Contains(buf.String(), "kept") {
		t.Fatalf("log = %s", buf.String())
	}
	// A logger created later inherits its nearest ancestor's level.
	late := l.Logger("org.apache.kafka.connect.runtime.Late")
	late.Warn("late dropped")
	if strings.Contains(buf.String(), "late dropped") {
		t.Fatal("new logger ignored its namespace's level")
	}
	if lv, ok := l.Level("org.apache.kafka.connect.runtime.Late"); !ok || lv.Level != "ERROR" || lv.LastModified != nil {
		t.Fatalf("late = %+v", lv)
	}
	if _, ok := l.Level("com.example.Unknown"); ok {
		t.Fatal("unknown logger found")
	}
	if _, err := l.SetLevel("x", "LOUD"); err == nil {
		t.Fatal("bad level accepted")
	}
	// Root applies to every logger.
	l.SetLevel(RootLogger, "OFF")
	buf.Reset()
	herder.Error("off")
	if buf.Len() != 0 {
		t.Fatal("OFF still logs")
	}
	if all := l.All(); all[RootLogger].Level != "OFF" || all[LoggerHerder].Level != "OFF" {
		t.Fatalf("all = %+v", all)
	}
}
