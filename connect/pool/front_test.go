package pool_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connect/pool"
)

// The capacity API round-trips MSK Connect's JSON and rejects bad input
// with Connect's error body; with no worker up, the proxied API answers 503.
func TestCapacityAPI(t *testing.T) {
	s, err := pool.New(pool.Config{Bootstrap: []string{"127.0.0.1:1"}, Command: []string{"/bin/false"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var got pool.Capacity
	if code := call(t, "GET", srv.URL+"/admin/capacity", nil, &got); code != 200 || got.AutoScaling == nil ||
		got.AutoScaling.MinWorkerCount != 1 || got.AutoScaling.MaxWorkerCount != 2 {
		t.Fatalf("GET default capacity: %d %+v", code, got.AutoScaling)
	}
	want := pool.Capacity{AutoScaling: &pool.AutoScaling{MinWorkerCount: 2, MaxWorkerCount: 5, McuCount: 2,
		ScaleInPolicy: pool.ScalePolicy{CPUUtilizationPercentage: 30}, ScaleOutPolicy: pool.ScalePolicy{CPUUtilizationPercentage: 60}}}
	if code := call(t, "PUT", srv.URL+"/admin/capacity", want, &got); code != 200 || *got.AutoScaling != *want.AutoScaling {
		t.Fatalf("PUT: %d %+v", code, got.AutoScaling)
	}
	if code := call(t, "GET", srv.URL+"/admin/capacity", nil, &got); code != 200 || *got.AutoScaling != *want.AutoScaling {
		t.Fatalf("GET after PUT: %d %+v", code, got.AutoScaling)
	}
	prov := map[string]any{"provisionedCapacity": map[string]any{"workerCount": 3}}
	got = pool.Capacity{}
	if code := call(t, "PUT", srv.URL+"/admin/capacity", prov, &got); code != 200 || got.AutoScaling != nil ||
		got.ProvisionedCapacity == nil || got.ProvisionedCapacity.WorkerCount != 3 || got.ProvisionedCapacity.McuCount != 1 {
		t.Fatalf("PUT provisioned: %d %+v", code, got)
	}
	for _, bad := range []any{
		map[string]any{"autoScaling": map[string]any{"minWorkerCount": 3, "maxWorkerCount": 1}},
		map[string]any{"autoScaling": map[string]any{"minWorkerCount": 1, "maxWorkerCount": 2,
			"scaleInPolicy": map[string]any{"cpuUtilizationPercentage": 90}, "scaleOutPolicy": map[string]any{"cpuUtilizationPercentage": 80}}},
		map[string]any{"provisionedCapacity": map[string]any{"workerCount": 0}},
		map[string]any{"bogus": 1},
		"not an object",
	} {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if code := call(t, "PUT", srv.URL+"/admin/capacity", bad, &e); code != 400 || e.Code != 400 || !strings.Contains(e.Message, "invalid capacity") {
			t.Errorf("PUT %v: %d %+v", bad, code, e)
		}
	}
	// A rejected PUT changed nothing.
	got = pool.Capacity{}
	if call(t, "GET", srv.URL+"/admin/capacity", nil, &got); got.AutoScaling != nil || got.ProvisionedCapacity == nil || got.ProvisionedCapacity.WorkerCount != 3 {
		t.Fatalf("capacity after rejected PUTs: %+v", got)
	}
	var e struct {
		Code int `json:"error_code"`
	}
	if code := call(t, "GET", srv.URL+"/connectors", nil, &e); code != http.StatusServiceUnavailable || e.Code != 503 {
		t.Fatalf("GET /connectors with no worker: %d %+v", code, e)
	}
	if code := call(t, "DELETE", srv.URL+"/admin/capacity", nil, &e); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE /admin/capacity: %d", code)
	}
}
