package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/schemaregistry"
)

// StartRegistry runs Sluice's schema registry in process against the Kafka
// cluster at bootstrap (its `_schemas` topic there) on a loopback port and
// returns its URL once it serves. It is stopped by t.Cleanup.
func StartRegistry(t testing.TB, bootstrap string) string {
	t.Helper()
	reg, err := schemaregistry.New(schemaregistry.Config{Bootstrap: []string{bootstrap}, Addr: "127.0.0.1:0", NoElection: true,
		Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = reg.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		reg.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); reg.Ready() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("schema registry not ready after 30 s: %v", reg.Ready())
		}
	}
	return reg.URL()
}
