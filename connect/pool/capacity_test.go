package pool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCapacity(t *testing.T) {
	c, err := ParseCapacity([]byte(`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":3,"mcuCount":2,
		"scaleInPolicy":{"cpuUtilizationPercentage":10},"scaleOutPolicy":{"cpuUtilizationPercentage":70}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.AutoScaling; a == nil || a.MinWorkerCount != 1 || a.MaxWorkerCount != 3 || a.McuCount != 2 ||
		a.ScaleInPolicy.CPUUtilizationPercentage != 10 || a.ScaleOutPolicy.CPUUtilizationPercentage != 70 {
		t.Fatalf("parsed %+v", c.AutoScaling)
	}
	// Left-out fields take the defaults.
	c, err = ParseCapacity([]byte(`{"autoScaling":{"minWorkerCount":2,"maxWorkerCount":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.AutoScaling; a.McuCount != 1 || a.ScaleInPolicy.CPUUtilizationPercentage != 20 || a.ScaleOutPolicy.CPUUtilizationPercentage != 80 {
		t.Fatalf("defaults %+v", a)
	}
	c, err = ParseCapacity([]byte(`{"provisionedCapacity":{"workerCount":3}}`))
	if err != nil || c.ProvisionedCapacity.WorkerCount != 3 || c.ProvisionedCapacity.McuCount != 1 {
		t.Fatalf("provisioned: %+v %v", c, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{}`, "exactly one of autoScaling and provisionedCapacity"},
		{`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":1},"provisionedCapacity":{"workerCount":1}}`, "exclude each other"},
		{`{"autoScaling":{"minWorkerCount":0,"maxWorkerCount":1}}`, "minWorkerCount must be at least 1"},
		{`{"autoScaling":{"minWorkerCount":3,"maxWorkerCount":2}}`, "maxWorkerCount (2) must be at least minWorkerCount (3)"},
		{`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":2,"mcuCount":3}}`, "mcuCount must be 1, 2, 4 or 8"},
		{`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":2,"scaleOutPolicy":{"cpuUtilizationPercentage":101}}}`, "1..100, got 101"},
		{`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":2,"scaleInPolicy":{"cpuUtilizationPercentage":-1}}}`, "1..100, got -1"},
		{`{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":2,"scaleInPolicy":{"cpuUtilizationPercentage":50},"scaleOutPolicy":{"cpuUtilizationPercentage":50}}}`, "must be below scaleOutPolicy's (50)"},
		{`{"provisionedCapacity":{"workerCount":0}}`, "workerCount must be at least 1"},
		{`{"autoScaling":{"minWorkers":1}}`, `unknown field "minWorkers"`},
		{`{"autoScaling":{"minWorkerCount":"1"}}`, "cannot unmarshal"},
		{`{"provisionedCapacity":{"workerCount":1}} {}`, "trailing data"},
		{`not json`, "invalid character"},
	} {
		_, err := ParseCapacity([]byte(tc.in))
		if err == nil || !errors.Is(err, ErrInvalidCapacity) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseStat(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	line := []byte("4242 (sluice worker) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 9 0 100 0 0\n")
	d, err := parseStat(line)
	if err != nil || d != 2*time.Second {
		t.Fatalf("parseStat = %v, %v; want 2s", d, err)
	}
	if _, err := parseStat([]byte("4242 (x) S 1")); err == nil {
		t.Fatal("short line accepted")
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestUtilizationWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var h history
	// Half a core for 10 s, sampled every second.
	for i := 0; i <= 10; i++ {
		h = h.add(cpuSample{at: t0.Add(time.Duration(i) * time.Second), cpu: time.Duration(i) * 500 * time.Millisecond}, 5*time.Second)
	}
	if len(h) > 7 {
		t.Fatalf("history keeps %d samples for a 5 s window", len(h))
	}
	pct, ok := h.utilization(4*time.Second, time.Time{}, 1)
	if !ok || pct != 50 {
		t.Fatalf("utilization = %v %v, want 50", pct, ok)
	}
	// With 2 MCUs the same CPU is 25 %.
	if pct, _ := h.utilization(4*time.Second, time.Time{}, 2); pct != 25 {
		t.Fatalf("2 MCUs: %v", pct)
	}
	// A window reaching before the last scale event is not measured.
	if _, ok := h.utilization(4*time.Second, t0.Add(8*time.Second), 1); ok {
		t.Fatal("window mixed samples from before the last event")
	}
	// Not enough history yet.
	if _, ok := h[:2].utilization(4*time.Second, time.Time{}, 1); ok {
		t.Fatal("measured a window shorter than asked")
	}
}

func TestDecide(t *testing.T) {
	c := Capacity{AutoScaling: &AutoScaling{MinWorkerCount: 1, MaxWorkerCount: 3, McuCount: 1,
		ScaleInPolicy: ScalePolicy{20}, ScaleOutPolicy: ScalePolicy{80}}}
	for _, tc := range []struct {
		n    int
		avg  float64
		want int
	}{
		{1, 90, +1}, {3, 90, 0}, {2, 50, 0}, {2, 80, 0}, {2, 10, -1}, {1, 10, 0}, {0, 50, +1}, {4, 50, -1},
	} {
		if got := decide(c, tc.n, tc.avg); got != tc.want {
			t.Errorf("decide(%d workers, %v%%) = %d, want %d", tc.n, tc.avg, got, tc.want)
		}
	}
	p := Capacity{ProvisionedCapacity: &ProvisionedCapacity{WorkerCount: 2, McuCount: 1}}
	if decide(p, 2, 100) != 0 || decide(p, 1, 0) != 1 || decide(p, 3, 0) != -1 {
		t.Fatal("provisioned capacity does not hold its count")
	}
}
