package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Capacity is MSK Connect's capacity object: exactly one of AutoScaling and
// ProvisionedCapacity. Its JSON is MSK Connect's (CreateConnector's and
// UpdateConnector's "capacity"), so the same document works in both.
type Capacity struct {
	AutoScaling         *AutoScaling         `json:"autoScaling,omitempty" yaml:"autoScaling,omitempty"`
	ProvisionedCapacity *ProvisionedCapacity `json:"provisionedCapacity,omitempty" yaml:"provisionedCapacity,omitempty"`
}

// AutoScaling keeps the worker count between MinWorkerCount and
// MaxWorkerCount, adding a worker when the pool's average CPU is above
// ScaleOutPolicy and removing one when it is below ScaleInPolicy.
type AutoScaling struct {
	MinWorkerCount int         `json:"minWorkerCount" yaml:"minWorkerCount"`
	MaxWorkerCount int         `json:"maxWorkerCount" yaml:"maxWorkerCount"`
	McuCount       int         `json:"mcuCount" yaml:"mcuCount"`
	ScaleInPolicy  ScalePolicy `json:"scaleInPolicy" yaml:"scaleInPolicy"`
	ScaleOutPolicy ScalePolicy `json:"scaleOutPolicy" yaml:"scaleOutPolicy"`
}

// ScalePolicy is a CPU threshold in percent of the worker's MCUs.
type ScalePolicy struct {
	CPUUtilizationPercentage int `json:"cpuUtilizationPercentage" yaml:"cpuUtilizationPercentage"`
}

// ProvisionedCapacity runs a fixed number of workers.
type ProvisionedCapacity struct {
	WorkerCount int `json:"workerCount" yaml:"workerCount"`
	McuCount    int `json:"mcuCount" yaml:"mcuCount"`
}

// Defaults applied to fields left out (zero), as the MSK console suggests
// them: 1 MCU per worker, scale in below 20 %, scale out above 80 %.
const (
	DefaultMcuCount    = 1
	DefaultScaleInPct  = 20
	DefaultScaleOutPct = 80
)

// DefaultCapacity is what `sluice connect pool` and `sluice serve` run when
// nothing is configured: autoscaling between 1 and 2 workers of 1 MCU.
func DefaultCapacity() Capacity {
	return Capacity{AutoScaling: &AutoScaling{
		MinWorkerCount: 1, MaxWorkerCount: 2, McuCount: DefaultMcuCount,
		ScaleInPolicy:  ScalePolicy{DefaultScaleInPct},
		ScaleOutPolicy: ScalePolicy{DefaultScaleOutPct},
	}}
}

// ErrInvalidCapacity wraps every validation error.
var ErrInvalidCapacity = errors.New("invalid capacity")

// ParseCapacity decodes MSK Connect's capacity JSON strictly (unknown keys
// are errors), fills defaults and validates it.
func ParseCapacity(data []byte) (Capacity, error) {
	var c Capacity
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Capacity{}, fmt.Errorf("%w: %v", ErrInvalidCapacity, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Capacity{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidCapacity)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Capacity{}, err
	}
	return c, nil
}

// WithDefaults returns c with zero mcuCount and percentages filled in.
func (c Capacity) WithDefaults() Capacity {
	if a := c.AutoScaling; a != nil {
		cp := *a
		if cp.McuCount == 0 {
			cp.McuCount = DefaultMcuCount
		}
		if cp.ScaleInPolicy.CPUUtilizationPercentage == 0 {
			cp.ScaleInPolicy.CPUUtilizationPercentage = DefaultScaleInPct
		}
		if cp.ScaleOutPolicy.CPUUtilizationPercentage == 0 {
			cp.ScaleOutPolicy.CPUUtilizationPercentage = DefaultScaleOutPct
		}
		c.AutoScaling = &cp
	}
	if p := c.ProvisionedCapacity; p != nil {
		cp := *p
		if cp.McuCount == 0 {
			cp.McuCount = DefaultMcuCount
		}
		c.ProvisionedCapacity = &cp
	}
	return c
}

// Validate applies MSK Connect's limits and lists every violation.
func (c Capacity) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	mcu := func(path string, n int) {
		switch n {
		case 1, 2, 4, 8:
		default:
			bad("%s.mcuCount must be 1, 2, 4 or 8, got %d", path, n)
		}
	}
	switch {
	case c.AutoScaling == nil && c.ProvisionedCapacity == nil:
		bad("exactly one of autoScaling and provisionedCapacity is required")
	case c.AutoScaling != nil && c.ProvisionedCapacity != nil:
		bad("autoScaling and provisionedCapacity exclude each other")
	}
	if a := c.AutoScaling; a != nil {
		if a.MinWorkerCount < 1 {
			bad("autoScaling.minWorkerCount must be at least 1, got %d", a.MinWorkerCount)
		}
		if a.MaxWorkerCount < a.MinWorkerCount {
			bad("autoScaling.maxWorkerCount (%d) must be at least minWorkerCount (%d)", a.MaxWorkerCount, a.MinWorkerCount)
		}
		mcu("autoScaling", a.McuCount)
		in, out := a.ScaleInPolicy.CPUUtilizationPercentage, a.ScaleOutPolicy.CPUUtilizationPercentage
		if in < 1 || in > 100 {
			bad("autoScaling.scaleInPolicy.cpuUtilizationPercentage must be 1..100, got %d", in)
		}
		if out < 1 || out > 100 {
			bad("autoScaling.scaleOutPolicy.cpuUtilizationPercentage must be 1..100, got %d", out)
		}
		if in >= out {
			bad("autoScaling.scaleInPolicy.cpuUtilizationPercentage (%d) must be below scaleOutPolicy's (%d)", in, out)
		}
	}
	if p := c.ProvisionedCapacity; p != nil {
		if p.WorkerCount < 1 {
			bad("provisionedCapacity.workerCount must be at least 1, got %d", p.WorkerCount)
		}
		mcu("provisionedCapacity", p.McuCount)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidCapacity, strings.Join(errs, "; "))
	}
	return nil
}

// bounds are the worker counts the capacity allows and the MCUs per worker.
func (c Capacity) bounds() (min, max, mcu int) {
	if a := c.AutoScaling; a != nil {
		return a.MinWorkerCount, a.MaxWorkerCount, a.McuCount
	}
	p := c.ProvisionedCapacity
	return p.WorkerCount, p.WorkerCount, p.McuCount
}
