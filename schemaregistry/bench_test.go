package schemaregistry_test

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// benchHTTP runs parallel GETs of the paths against a registry over loopback
// with keep-alive connections and reports requests per second.
func benchHTTP(b *testing.B, paths func(i int64) (string, string)) {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	var n atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			method, url := paths(n.Add(1))
			req, _ := http.NewRequest(method, url, nil)
			resp, err := cl.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
}

// BenchmarkGetSchemaByID measures GET /schemas/ids/{id} over real HTTP.
func BenchmarkGetSchemaByID(b *testing.B) {
	reg := startRegistry(b, startKafka(b))
	const ids = 50
	for i := range ids {
		register(b, reg.url, fmt.Sprintf("s%d", i), schemaBody(fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":"int"}]}`, i)))
	}
	benchHTTP(b, func(i int64) (string, string) {
		return "GET", fmt.Sprintf("%s/schemas/ids/%d", reg.url, i%ids+1)
	})
}

// BenchmarkGetLatestVersion measures GET /subjects/{s}/versions/latest.
func BenchmarkGetLatestVersion(b *testing.B) {
	reg := startRegistry(b, startKafka(b))
	const n = 50
	for i := range n {
		register(b, reg.url, fmt.Sprintf("s%d", i), schemaBody(fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":"int"}]}`, i)))
	}
	benchHTTP(b, func(i int64) (string, string) {
		return "GET", fmt.Sprintf("%s/subjects/s%d/versions/latest", reg.url, i%n)
	})
}
