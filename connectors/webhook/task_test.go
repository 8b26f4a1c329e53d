package webhook

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

type fakeCtx struct{}

func (fakeCtx) Offset(map[string]any) map[string]any { return nil }
func (fakeCtx) Bootstrap() []string                  { return []string{"127.0.0.1:9"} }
func (fakeCtx) Producer() *kgo.Client                { return nil }

// TestStopEndsEverything: with a receiver that never answers, a Put blocked
// on a full buffer returns once the task stops, and Stop leaves no
// goroutine behind; PreCommit never reports undelivered records.
func TestStopEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	var hits atomic.Int64
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	tk := &task{}
	if err := tk.Start(fakeCtx{}, map[string]string{KeyURL: recv.URL, KeyBatchSize: "2", KeyWindow: "0", KeyBuffer: "3", KeyTrigger: "stop"}); err != nil {
		t.Fatal(err)
	}
	var recs []*plugin.SinkRecord
	for p := int32(0); p < 5; p++ {
		for i := int64(0); i < 10; i++ {
			recs = append(recs, &plugin.SinkRecord{Topic: "t", Partition: p, Offset: i, Value: []byte("v")})
		}
	}
	putDone := make(chan error, 1)
	go func() { putDone <- tk.Put(recs) }()
	for hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	off, _ := tk.PreCommit(nil)
	for tp, o := range off {
		if o != 0 {
			t.Fatalf("%v: committable %d with nothing delivered", tp, o)
		}
	}
	if err := tk.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	close(release)
	recv.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
