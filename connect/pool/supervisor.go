// Package pool runs a Connect cluster as a pool of worker processes, as MSK
// Connect does: a Supervisor starts `sluice connect worker` processes in one
// group, restarts those that die, and adds or removes workers on their CPU
// between the capacity's minimum and maximum. It fronts the pool with one
// Connect REST address that proxies to a live worker, plus /admin/capacity.
package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config's durations.
const (
	DefaultEvaluationWindow = 5 * time.Minute
	DefaultCooldown         = 5 * time.Minute
	DefaultStopTimeout      = 60 * time.Second
	maxRestartBackoff       = 30 * time.Second
	// healthyRun is how long a worker must have lived for its exit to count
	// as a one-off (restart after a second) rather than part of a crash loop.
	healthyRun = 10 * time.Second
)

// Config configures a Supervisor.
type Config struct {
	// Bootstrap and GroupID are passed to every worker (--bootstrap, --group).
	Bootstrap []string
	GroupID   string // default "connect-cluster"
	// Command runs one worker; the pool appends --bootstrap, --group,
	// --connect-addr 127.0.0.1:0, --api-addr 127.0.0.1:0 and --data-dir.
	// Default: this executable with "connect", "worker".
	Command []string
	// Args are appended to every worker's command line (e.g. --log-level).
	Args []string
	// DataDir holds one directory per worker (worker-<n>).
	DataDir string
	// Addr is the pool's Connect REST address; empty means no listener
	// (use Handler).
	Addr     string
	Capacity Capacity // default DefaultCapacity()
	// EvaluationWindow is how long CPU is averaged before a decision;
	// Cooldown is the least time between two scale events.
	EvaluationWindow time.Duration
	Cooldown         time.Duration
	// SampleInterval is how often CPU is read; default a tenth of the
	// window, between 100 ms and 15 s.
	SampleInterval time.Duration
	// StopTimeout bounds a worker's drain after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// RestartBackoff is the delay before replacing a worker that died
	// (default 1 s); it doubles, up to 30 s, while workers keep dying
	// within 10 s of their start.
	RestartBackoff time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	// WorkerOutput receives the workers' log lines, each prefixed with
	// "[worker-<n>] "; nil discards them.
	WorkerOutput io.Writer
}

// WorkerInfo describes one worker process (GET /admin/workers).
type WorkerInfo struct {
	Name       string   `json:"name"`
	PID        int      `json:"pid"`
	URL        string   `json:"url,omitempty"`
	State      string   `json:"state"` // STARTING, RUNNING, STOPPING
	CPUPercent *float64 `json:"cpu_percent,omitempty"`
}

// Supervisor runs and scales the worker processes.
type Supervisor struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	ln   net.Listener
	api  http.Handler
	wake chan struct{}
	wg   sync.WaitGroup // worker goroutines

	mu        sync.Mutex
	capacity  Capacity
	target    int
	workers   []*worker // in start order
	nextID    int
	lastEvent time.Time
	notBefore time.Time // restart backoff
	backoff   time.Duration
	rr        int // proxy round robin
	out       sync.Mutex
}

type worker struct {
	id       int
	name     string
	cmd      *exec.Cmd
	started  time.Time
	url      string // Connect REST base URL once logged
	apiAddr  string // the worker's own Sluice API (readyz)
	ready    bool
	stopping bool
	stopAt   time.Time
	killed   bool
	hist     history
	cpu      float64
	cpuOK    bool
	exited   chan struct{}
	exitErr  error
}

// New validates cfg and binds the front listener.
func New(cfg Config) (*Supervisor, error) {
	if cfg.GroupID == "" {
		cfg.GroupID = "connect-cluster"
	}
	if len(cfg.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("pool: worker command: %w", err)
		}
		cfg.Command = []string{exe, "connect", "worker"}
	}
	if cfg.Capacity.AutoScaling == nil && cfg.Capacity.ProvisionedCapacity == nil {
		cfg.Capacity = DefaultCapacity()
	}
	cfg.Capacity = cfg.Capacity.WithDefaults()
	if err := cfg.Capacity.Validate(); err != nil {
		return nil, err
	}
	if cfg.EvaluationWindow <= 0 {
		cfg.EvaluationWindow = DefaultEvaluationWindow
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = min(max(cfg.EvaluationWindow/10, 100*time.Millisecond), 15*time.Second)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.RestartBackoff <= 0 {
		cfg.RestartBackoff = time.Second
	}
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("pool: no Kafka bootstrap servers")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{cfg: cfg, log: log, m: newMetrics(cfg.Registerer), wake: make(chan struct{}, 1),
		capacity: cfg.Capacity, backoff: cfg.RestartBackoff}
	s.target, _, _ = cfg.Capacity.bounds()
	s.api = s.handler()
	if cfg.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("connect pool listener: %w", err)
		}
		s.ln = ln
	}
	return s, nil
}

// Addr is the front listener's address ("" without one).
func (s *Supervisor) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Handler serves the pool's front: /admin/capacity, /admin/workers and the
// Connect REST API proxied to a worker.
func (s *Supervisor) Handler() http.Handler { return s.api }

// Capacity returns the capacity in force.
func (s *Supervisor) Capacity() Capacity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.capacity
}

// SetCapacity validates c and applies it at once: the worker count moves
// into the new bounds one worker at a time, and autoscaling uses the new
// thresholds from its next decision. A new mcuCount applies to workers
// started from now on.
func (s *Supervisor) SetCapacity(c Capacity) error {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.capacity = c
	lo, hi, _ := c.bounds()
	s.target = min(max(s.target, lo), hi)
	target := s.target
	s.mu.Unlock()
	s.log.Info("connect pool capacity changed", "min", lo, "max", hi, "target", target)
	s.poke()
	return nil
}

// Workers lists the worker processes, oldest first.
func (s *Supervisor) Workers() []WorkerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WorkerInfo, 0, len(s.workers))
	for _, w := range s.workers {
		wi := WorkerInfo{Name: w.name, PID: w.cmd.Process.Pid, URL: w.url, State: "STARTING"}
		switch {
		case w.stopping:
			wi.State = "STOPPING"
		case w.ready:
			wi.State = "RUNNING"
		}
		if w.cpuOK {
			c := w.cpu
			wi.CPUPercent = &c
		}
		out = append(out, wi)
	}
	return out
}

// Ready reports whether at least one worker has joined the group.
func (s *Supervisor) Ready() error {
	if len(s.targets()) == 0 {
		return errors.New("no Connect worker of the pool is ready yet")
	}
	return nil
}

func (s *Supervisor) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run serves the front and keeps the pool at its target until ctx ends;
// then it stops every worker (SIGTERM: they drain and leave the group) and
// waits for them.
func (s *Supervisor) Run(ctx context.Context) error {
	var srv *http.Server
	errc := make(chan error, 1)
	if s.ln != nil {
		srv = &http.Server{Handler: s.api, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(s.ln) }()
		s.log.Info("connect pool listening", "addr", s.Addr(), "group", s.cfg.GroupID)
	}
	tick := time.NewTicker(s.cfg.SampleInterval)
	defer tick.Stop()
	var err error
loop:
	for {
		s.step(time.Now())
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			break loop
		case <-tick.C:
		case <-s.wake:
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		if err == nil {
			if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
				err = e
			}
		}
	}
	s.stopAll()
	return err
}

// Close releases the listener if Run never ran.
func (s *Supervisor) Close() error {
	if s.ln != nil {
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
	}
	return nil
}

// stopAll sends SIGTERM to every worker at once, kills those still running
// after StopTimeout and waits for their goroutines.
func (s *Supervisor) stopAll() {
	s.mu.Lock()
	ws := append([]*worker(nil), s.workers...)
	for _, w := range ws {
		if !w.stopping {
			w.stopping = true
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	s.mu.Unlock()
	deadline := time.After(s.cfg.StopTimeout)
	for _, w := range ws {
		select {
		case <-w.exited:
		case <-deadline:
			s.log.Warn("connect pool worker did not stop in time; killing it", "worker", w.name, "pid", w.cmd.Process.Pid)
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		s.mu.Lock()
		err := w.exitErr
		s.mu.Unlock()
		s.log.Info("connect pool worker stopped", "worker", w.name, "pid", w.cmd.Process.Pid, "exit", exitString(err))
	}
	s.wg.Wait()
	s.mu.Lock()
	s.workers = nil
	s.mu.Unlock()
	s.m.workers.Set(0)
}

// step is one turn of the control loop: reap exited workers, sample CPU,
// decide, and start or stop one worker toward the target.
func (s *Supervisor) step(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reap(now)
	s.sample(now)
	s.autoscale(now)
	s.reconcile(now)
	live := 0
	for _, w := range s.workers {
		if !w.stopping {
			live++
		}
	}
	s.m.workers.Set(float64(live))
	s.m.target.Set(float64(s.target))
}

func (s *Supervisor) reap(now time.Time) {
	kept := s.workers[:0]
	for _, w := range s.workers {
		select {
		case <-w.exited:
		default:
			if w.stopping && !w.killed && now.Sub(w.stopAt) > s.cfg.StopTimeout {
				s.log.Warn("connect pool worker did not stop in time; killing it", "worker", w.name, "pid", w.cmd.Process.Pid)
				_ = w.cmd.Process.Kill()
				w.killed = true
			}
			kept = append(kept, w)
			continue
		}
		s.m.cpu.DeleteLabelValues(w.name)
		if w.stopping {
			s.log.Info("connect pool worker stopped", "worker", w.name, "pid", w.cmd.Process.Pid, "drain", now.Sub(w.stopAt).Round(time.Millisecond), "exit", exitString(w.exitErr))
			continue
		}
		// It exited unasked: replace it after a backoff that grows while
		// workers keep dying young.
		if now.Sub(w.started) > healthyRun {
			s.backoff = s.cfg.RestartBackoff
		}
		s.notBefore = now.Add(s.backoff)
		s.log.Warn("connect pool worker exited; restarting it", "worker", w.name, "pid", w.cmd.Process.Pid, "exit", exitString(w.exitErr), "after", s.backoff)
		s.backoff = min(2*s.backoff, maxRestartBackoff)
		s.m.restarts.Inc()
	}
	for i := len(kept); i < len(s.workers); i++ {
		s.workers[i] = nil
	}
	s.workers = kept
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (s *Supervisor) sample(now time.Time) {
	_, _, mcu := s.capacity.bounds()
	keep := s.cfg.EvaluationWindow + 2*s.cfg.SampleInterval
	for _, w := range s.workers {
		if w.stopping {
			continue
		}
		cpu, err := readCPU(w.cmd.Process.Pid)
		if err != nil {
			continue // exiting; reap sees it next
		}
		w.hist = w.hist.add(cpuSample{at: now, cpu: cpu}, keep)
		w.cpu, w.cpuOK = w.hist.utilization(s.cfg.EvaluationWindow, s.lastEvent, mcu)
		if w.cpuOK {
			s.m.cpu.WithLabelValues(w.name).Set(w.cpu)
		}
	}
}

// autoscale moves the target by one worker when the pool is settled (as
// many ready workers as the target, none stopping), the cool-down since the
// last event has passed, and every worker has a full window of CPU since.
func (s *Supervisor) autoscale(now time.Time) {
	a := s.capacity.AutoScaling
	if a == nil || now.Sub(s.lastEvent) < s.cfg.Cooldown {
		return
	}
	var sum float64
	n := 0
	for _, w := range s.workers {
		if w.stopping || !w.ready || !w.cpuOK {
			return
		}
		sum += w.cpu
		n++
	}
	if n != s.target || n == 0 {
		return
	}
	avg := sum / float64(n)
	d := decide(s.capacity, s.target, avg)
	if d == 0 {
		return
	}
	dir, policy := "out", a.ScaleOutPolicy.CPUUtilizationPercentage
	if d < 0 {
		dir, policy = "in", a.ScaleInPolicy.CPUUtilizationPercentage
	}
	s.log.Info("connect pool scaling "+dir, "from", s.target, "to", s.target+d,
		"avg_cpu_percent", strconv.FormatFloat(avg, 'f', 1, 64), "threshold_percent", policy,
		"window", s.cfg.EvaluationWindow)
	s.target += d
	s.lastEvent = now
	s.m.scaleEvents.WithLabelValues(dir).Inc()
}

// reconcile starts or stops one worker toward the target.
func (s *Supervisor) reconcile(now time.Time) {
	var live []*worker
	for _, w := range s.workers {
		if !w.stopping {
			live = append(live, w)
		}
	}
	switch {
	case len(live) < s.target && !now.Before(s.notBefore):
		if err := s.start(now); err != nil {
			s.log.Error("connect pool cannot start a worker", "err", err)
			s.notBefore = now.Add(s.backoff)
			s.backoff = min(2*s.backoff, maxRestartBackoff)
		}
	case len(live) > s.target:
		// The newest worker goes: SIGTERM makes it stop its tasks, commit
		// their offsets and leave the group, so the others take its work
		// over at once.
		w := live[len(live)-1]
		w.stopping, w.stopAt = true, now
		s.log.Info("connect pool stopping worker", "worker", w.name, "pid", w.cmd.Process.Pid)
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
}

var (
	restAddrRE = regexp.MustCompile(`connect REST API listening"?.* addr=(\S+)`)
	apiAddrRE  = regexp.MustCompile(`sluice API listening"?.* addr=(\S+)`)
)

func (s *Supervisor) start(now time.Time) error {
	s.nextID++
	w := &worker{id: s.nextID, name: "worker-" + strconv.Itoa(s.nextID), started: now, exited: make(chan struct{})}
	dir := filepath.Join(s.cfg.DataDir, w.name)
	if s.cfg.DataDir == "" {
		dir = ""
	}
	args := append(append([]string(nil), s.cfg.Command[1:]...),
		"--bootstrap", strings.Join(s.cfg.Bootstrap, ","), "--group", s.cfg.GroupID,
		"--connect-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		args = append(args, "--data-dir", dir)
	}
	args = append(args, s.cfg.Args...)
	cmd := exec.Command(s.cfg.Command[0], args...)
	_, _, mcu := s.capacity.bounds()
	// An MCU is one core: the Go runtime of a worker runs on mcuCount.
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(mcu))
	// The worker gets SIGTERM if the pool dies, so no worker outlives it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w.cmd = cmd
	s.workers = append(s.workers, w)
	s.log.Info("connect pool started worker", "worker", w.name, "pid", cmd.Process.Pid)
	s.wg.Add(1)
	go s.watch(w, stderr)
	return nil
}

// watch copies a worker's logs, learns its addresses from them, probes its
// readiness, and reports its exit.
func (s *Supervisor) watch(w *worker, stderr io.Reader) {
	defer s.wg.Done()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := "[" + w.name + "] "
	probing := false
	for sc.Scan() {
		line := sc.Text()
		if out := s.cfg.WorkerOutput; out != nil {
			s.out.Lock()
			_, _ = io.WriteString(out, prefix+line+"\n")
			s.out.Unlock()
		}
		if m := restAddrRE.FindStringSubmatch(line); m != nil {
			s.mu.Lock()
			w.url = "http://" + m[1]
			s.mu.Unlock()
		}
		if m := apiAddrRE.FindStringSubmatch(line); m != nil && !probing {
			probing = true
			s.wg.Add(1)
			go s.probe(w, m[1])
		}
	}
	_, _ = io.Copy(io.Discard, stderr) // a line too long for the scanner
	err := w.cmd.Wait()
	s.mu.Lock()
	w.exitErr = err
	s.mu.Unlock()
	close(w.exited)
	s.poke()
}

// probe polls the worker's /readyz until it has joined the group.
func (s *Supervisor) probe(w *worker, apiAddr string) {
	defer s.wg.Done()
	cl := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := cl.Get("http://" + apiAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.mu.Lock()
				w.ready = true
				s.mu.Unlock()
				s.log.Info("connect pool worker ready", "worker", w.name, "url", w.url)
				s.poke()
				return
			}
		}
		select {
		case <-w.exited:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// targets are the REST URLs of ready workers, rotated for round robin.
func (s *Supervisor) targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ready []string
	for _, w := range s.workers {
		if !w.stopping && w.ready && w.url != "" {
			ready = append(ready, w.url)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	sort.Strings(ready)
	s.rr++
	k := s.rr % len(ready)
	return append(ready[k:], ready[:k]...)
}
