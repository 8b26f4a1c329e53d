package pool

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (the kernel fixes the
// value it exports whatever its internal HZ).
const clockTicks = 100

// readCPU returns the CPU time (user + system) process pid has used so far,
// from /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(data)
}

// parseStat reads utime and stime (fields 14 and 15) from a stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields
// are counted after its closing parenthesis.
func parseStat(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("pool: malformed /proc stat line")
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("pool: short /proc stat line")
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pool: /proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// cpuSample is a worker's cumulative CPU time at an instant.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// history is one worker's samples, oldest first.
type history []cpuSample

// add appends s and forgets samples older than keep before it, but always
// keeps the newest sample at or before that point so a full window stays
// measurable.
func (h history) add(s cpuSample, keep time.Duration) history {
	h = append(h, s)
	cut := s.at.Add(-keep)
	i := 0
	for i+1 < len(h) && !h[i+1].at.After(cut) {
		i++
	}
	return h[i:]
}

// utilization is the CPU the worker used over the window ending at its
// newest sample, in percent of mcu cores: 100 × ΔCPU / (Δwall × mcu). The
// base sample is the newest one at or before the window's start, and must
// not be older than since (the last scale event), so a window never mixes
// before and after. ok is false until such a window exists.
func (h history) utilization(window time.Duration, since time.Time, mcu int) (pct float64, ok bool) {
	if len(h) < 2 || mcu < 1 {
		return 0, false
	}
	last := h[len(h)-1]
	start := last.at.Add(-window)
	base := -1
	for i := len(h) - 2; i >= 0; i-- {
		if !h[i].at.After(start) {
			base = i
			break
		}
	}
	if base < 0 || h[base].at.Before(since) {
		return 0, false
	}
	wall := last.at.Sub(h[base].at)
	if wall <= 0 {
		return 0, false
	}
	return 100 * float64(last.cpu-h[base].cpu) / float64(wall) / float64(mcu), true
}

// decide is the autoscaling rule: +1 adds a worker, -1 removes one, 0 keeps
// the count. avg is the pool's average CPU in percent; live the workers
// running. Outside the capacity's bounds the count moves back inside them
// whatever the CPU.
func decide(c Capacity, live int, avg float64) int {
	min, max, _ := c.bounds()
	switch {
	case live < min:
		return +1
	case live > max:
		return -1
	}
	a := c.AutoScaling
	if a == nil {
		return 0
	}
	switch {
	case avg > float64(a.ScaleOutPolicy.CPUUtilizationPercentage) && live < max:
		return +1
	case avg < float64(a.ScaleInPolicy.CPUUtilizationPercentage) && live > min:
		return -1
	}
	return 0
}
