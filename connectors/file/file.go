// Package file is Kafka's FileStream connectors, under Kafka's class names
// and config keys so the Kafka quickstart configs run unchanged: a source
// that tails a file line by line and a sink that appends record values to a
// file, one per line.
package file

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Class names, as in Apache Kafka.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
	version     = "1.0.0"
)

func init() {
	plugin.Register(plugin.Plugin{Class: SourceClass, Kind: plugin.Source, Version: version, New: func() plugin.Connector { return &sourceConnector{} }})
	plugin.Register(plugin.Plugin{Class: SinkClass, Kind: plugin.Sink, Version: version, New: func() plugin.Connector { return &sinkConnector{} }})
}

var sourceDef = plugin.ConfigDef{
	{Name: "file", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Source filename."},
	{Name: "topic", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "The topic to publish data to."},
	{Name: "batch.size", Type: plugin.TypeInt, Default: "2000", Validator: plugin.AtLeast(1), Importance: plugin.Low, Documentation: "The maximum number of records the source task can read from the file each time it is polled."},
}

var sinkDef = plugin.ConfigDef{
	{Name: "file", Type: plugin.TypeString, Required: true, Validator: plugin.NonEmpty(), Importance: plugin.High, Documentation: "Destination filename."},
}

type sourceConnector struct{ cfg map[string]string }

func (c *sourceConnector) ConfigDef() plugin.ConfigDef { return sourceDef }
func (c *sourceConnector) Start(cfg map[string]string) error {
	if _, err := sourceDef.Parse(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs returns one task: a file is read by one reader.
func (c *sourceConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{copyMap(c.cfg)}, nil
}
func (c *sourceConnector) Stop() error                { return nil }
func (c *sourceConnector) NewTask() plugin.SourceTask { return &sourceTask{} }

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type sourceTask struct {
	path, topic string
	batch       int
	f           *os.File
	r           *bufio.Reader
	pos         int64
}

func (t *sourceTask) Start(ctx plugin.TaskContext, cfg map[string]string) error {
	p, err := sourceDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.path, t.topic, t.batch = p.String("file"), p.String("topic"), int(p.Int("batch.size"))
	if off := ctx.Offset(map[string]any{"filename": t.path}); off != nil {
		switch v := off["position"].(type) {
		case float64:
			t.pos = int64(v)
		case json.Number:
			t.pos, _ = v.Int64()
		}
	}
	return nil
}

func (t *sourceTask) Poll(ctx context.Context) ([]*plugin.SourceRecord, error) {
	if t.f == nil {
		f, err := os.Open(t.path)
		if err != nil {
			// Kafka waits for the file to appear.
			return nil, sleep(ctx, time.Second)
		}
		if _, err := f.Seek(t.pos, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		t.f, t.r = f, bufio.NewReader(f)
	}
	var out []*plugin.SourceRecord
	for len(out) < t.batch {
		line, err := t.r.ReadString('\n')
		if err == io.EOF {
			// A partial line waits for its newline: rewind past it.
			if len(line) > 0 {
				if _, serr := t.f.Seek(t.pos, io.SeekStart); serr != nil {
					return out, serr
				}
				t.r.Reset(t.f)
			}
			break
		}
		if err != nil {
			return out, err
		}
		t.pos += int64(len(line))
		text := line[:len(line)-1]
		if n := len(text); n > 0 && text[n-1] == '\r' {
			text = text[:n-1]
		}
		out = append(out, &plugin.SourceRecord{
			SourcePartition: map[string]any{"filename": t.path},
			SourceOffset:    map[string]any{"position": t.pos},
			Topic:           t.topic,
			Value:           text,
		})
	}
	if len(out) == 0 {
		return nil, sleep(ctx, 250*time.Millisecond)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

func (t *sourceTask) Commit() error { return nil }
func (t *sourceTask) Stop() error {
	if t.f != nil {
		return t.f.Close()
	}
	return nil
}

type sinkConnector struct{ cfg map[string]string }

func (c *sinkConnector) ConfigDef() plugin.ConfigDef { return sinkDef }
func (c *sinkConnector) Start(cfg map[string]string) error {
	if _, err := sinkDef.Parse(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs returns one task: one writer per file.
func (c *sinkConnector) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{copyMap(c.cfg)}, nil
}
func (c *sinkConnector) Stop() error              { return nil }
func (c *sinkConnector) NewTask() plugin.SinkTask { return &sinkTask{} }

type sinkTask struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func (t *sinkTask) Start(_ plugin.TaskContext, cfg map[string]string) error {
	p, err := sinkDef.Parse(cfg)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p.String("file"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("Couldn't find or create file '%s' for FileStreamSinkTask: %w", p.String("file"), err)
	}
	t.f, t.w = f, bufio.NewWriter(f)
	return nil
}

// Put writes each value on its own line: strings as they are, other data
// as JSON.
func (t *sinkTask) Put(recs []*plugin.SinkRecord) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		switch v := r.Value.(type) {
		case string:
			t.w.WriteString(v)
		case []byte:
			t.w.Write(v)
		case nil:
			t.w.WriteString("null")
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			t.w.Write(b)
		}
		if err := t.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return nil
}

func (t *sinkTask) Flush(map[plugin.TopicPartition]int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Flush(); err != nil {
		return err
	}
	return t.f.Sync()
}

// PreCommit flushes, so committed offsets never run ahead of the file.
func (t *sinkTask) PreCommit(off map[plugin.TopicPartition]int64) (map[plugin.TopicPartition]int64, error) {
	if err := t.Flush(off); err != nil {
		return nil, err
	}
	return off, nil
}

func (t *sinkTask) Stop() error {
	if t.f == nil {
		return nil
	}
	err := t.Flush(nil)
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}
