// Package schemaregistry is Sluice's Confluent-compatible Schema Registry.
// It keeps its state in the _schemas topic in Confluent's record format and
// talks to Kafka only through franz-go, so it runs against Sluice's broker or
// any Kafka. Every instance answers reads from memory; instances sharing a
// group elect a leader over the Kafka group protocol (protocol type "sr") and
// followers forward writes to it.
//
// Subpackages: store (the topic and the election), catalog (state and rules,
// no I/O), rest (the HTTP API), format and compat/... (schema formats and
// compatibility), serde (the wire format for Go producers and consumers).
package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemaregistry/catalog"
	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/rest"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// Config configures a Registry.
type Config struct {
	// Bootstrap are the Kafka seed brokers (required).
	Bootstrap []string
	// Addr is the HTTP listen address Run serves on; empty serves nothing
	// (use Handler). The listener is bound by New.
	Addr string
	// AdvertisedURL is the URL other instances forward writes to; by
	// default http://<listen address>.
	AdvertisedURL string
	// Topic is the store topic (default _schemas).
	Topic string
	// GroupID is the election group (default schema-registry, as
	// Confluent's default).
	GroupID string
	// LeaderEligible: false makes a read-only follower. Default true.
	LeaderEligible *bool
	// NoElection makes this instance the only writer without joining a
	// group: for a single instance on a Kafka without group support. Never
	// run two such instances on one topic.
	NoElection bool
	// DefaultCompatibility is the global level until one is set (default
	// BACKWARD).
	DefaultCompatibility string
	// MaxBodyBytes bounds request bodies (default 16 MiB).
	MaxBodyBytes int64
	// WriteTimeout bounds one write to the topic (default 30s).
	WriteTimeout time.Duration
	// ClientOpts are added to the franz-go clients (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Registry is one registry instance.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	cat     *catalog.Catalog
	handler http.Handler
	ln      net.Listener
	url     string

	writeMu  sync.Mutex // one write at a time: plans see every earlier write
	storeLog atomic.Pointer[store.Log]
	elector  atomic.Pointer[store.Elector]
	ready    atomic.Bool
	needSync atomic.Bool // a new leader syncs before its first write

	closeOnce sync.Once
}

// New validates cfg, binds the listener (if Addr is set) and builds the API.
// It does not reach Kafka: Run does.
func New(cfg Config) (*Registry, error) {
	if len(cfg.Bootstrap) == 0 {
		return nil, errors.New("schema registry: no bootstrap brokers")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GroupID == "" {
		cfg.GroupID = "schema-registry"
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	level := compat.Backward
	if cfg.DefaultCompatibility != "" {
		l, err := compat.ParseLevel(cfg.DefaultCompatibility)
		if err != nil {
			return nil, fmt.Errorf("schema registry: %w", err)
		}
		level = l
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, cat: catalog.New(level)}
	r.handler = rest.New(r, rest.Options{MaxBodyBytes: cfg.MaxBodyBytes, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if cfg.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("schema registry listener: %w", err)
		}
		r.ln = ln
		r.url = "http://" + advertise(ln.Addr())
	}
	if cfg.AdvertisedURL != "" {
		r.url = cfg.AdvertisedURL
	}
	return r, nil
}

// advertise turns a listen address into a reachable one (":8081" listens on
// every interface; others reach it on the loopback from here).
func advertise(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Addr is the bound listen address, or "" without a listener.
func (r *Registry) Addr() string {
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// URL is the base URL this instance advertises.
func (r *Registry) URL() string { return r.url }

// Handler serves the REST API (for embedding in another server).
func (r *Registry) Handler() http.Handler { return r.handler }

// Ready reports nil once the state has caught up with the topic.
func (r *Registry) Ready() error {
	if !r.ready.Load() {
		return errors.New("schema registry: loading _schemas")
	}
	if el := r.elector.Load(); el != nil {
		if _, url := el.Leader(); url == "" {
			return errors.New("schema registry: no leader elected yet")
		}
	}
	return nil
}

// Run connects to Kafka (retrying until it can), loads _schemas, joins the
// leader election and serves HTTP on Addr until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// serveErr receives the HTTP server's failure; Run ends with it.
	serveErr := make(chan error, 1)
	if r.ln != nil {
		srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(r.ln); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("schema registry http: %w", err)
				cancel()
			}
		}()
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
			<-done
		}()
		r.log.Info("schema registry listening", "addr", r.ln.Addr().String())
	}
	// result is what Run returns once ctx ends: nil, or why serving failed.
	result := func() error {
		select {
		case err := <-serveErr:
			return err
		default:
			return nil
		}
	}

	l := r.open(ctx)
	if l == nil {
		return result() // ctx ended
	}
	// Deferred in this order so that, on the way out, the consumer and the
	// election stop first, then the clients they use close.
	defer l.Close()
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	r.storeLog.Store(l)
	bg.Add(1)
	go func() {
		defer bg.Done()
		l.Run(ctx)
	}()

	// A topic just created may not be in every broker's metadata yet: retry.
	for {
		err := l.CatchUp(ctx)
		if err == nil {
			break
		}
		r.log.Debug("schema registry: waiting for the end of the store topic", "topic", r.topic(), "err", err)
		select {
		case <-ctx.Done():
			return result()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.ready.Store(true)
	var maxID int
	r.cat.Read(func(st *catalog.State) { maxID = st.MaxID() })
	r.log.Info("schema registry ready", "topic", r.topic(), "max_id", maxID)

	eligible := r.cfg.LeaderEligible == nil || *r.cfg.LeaderEligible
	if r.url != "" && !r.cfg.NoElection {
		self, err := store.IdentityFromURL(r.url)
		if err != nil {
			return fmt.Errorf("schema registry: %w", err)
		}
		self.LeaderEligibilty = eligible
		el := store.NewElector(l.Client(), r.cfg.GroupID, self, r.log, func(leader bool) {
			if leader {
				r.needSync.Store(true)
			}
		})
		r.elector.Store(el)
		bg.Add(1)
		go func() {
			defer bg.Done()
			el.Run(ctx)
		}()
	} else if eligible {
		r.needSync.Store(true) // alone: this instance leads
	}
	<-ctx.Done()
	return result()
}

func (r *Registry) topic() string {
	if r.cfg.Topic == "" {
		return store.DefaultTopic
	}
	return r.cfg.Topic
}

// open opens the store, retrying while Kafka is not there; nil once ctx ends.
func (r *Registry) open(ctx context.Context) *store.Log {
	for {
		l, err := store.Open(ctx, store.Config{Bootstrap: r.cfg.Bootstrap, Topic: r.cfg.Topic, ClientOpts: r.cfg.ClientOpts, Logger: r.log}, r.cat.Apply)
		if err == nil {
			return l
		}
		r.log.Warn("schema registry: cannot open the store yet, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// Close releases the listener if Run never ran. Run cleans up after itself.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		if r.ln != nil {
			r.ln.Close()
		}
	})
	return nil
}

// Catalog implements rest.Service.
func (r *Registry) Catalog() *catalog.Catalog { return r.cat }

// Leader implements rest.Service.
func (r *Registry) Leader() (bool, string) {
	if el := r.elector.Load(); el != nil {
		return el.Leader()
	}
	eligible := r.cfg.LeaderEligible == nil || *r.cfg.LeaderEligible
	return eligible, ""
}

// Write implements rest.Service: plan under the writer lock, append, wait.
func (r *Registry) Write(ctx context.Context, plan func(st *catalog.State) ([]store.Record, error)) error {
	l := r.storeLog.Load()
	if l == nil || !r.ready.Load() {
		return catalog.Errf(catalog.CodeStoreError, "Error in the backend data store: the registry is still loading %s", r.topic())
	}
	if self, _ := r.Leader(); !self {
		return catalog.Errf(catalog.CodeUnknownLeader, "This instance is not the leader")
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.needSync.Load() {
		// A NOOP round trip: everything an earlier leader wrote is applied
		// before this one allocates ids.
		if err := l.Sync(ctx); err != nil {
			return catalog.Errf(catalog.CodeStoreError, "Error in the backend data store: %v", err)
		}
		r.needSync.Store(false)
	}
	var recs []store.Record
	var perr error
	r.cat.Read(func(st *catalog.State) { recs, perr = plan(st) })
	if perr != nil {
		return perr
	}
	if err := l.Write(ctx, recs...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return catalog.Errf(catalog.CodeOperationTimeout, "Operation timed out writing to %s", r.topic())
		}
		return catalog.Errf(catalog.CodeStoreError, "Error in the backend data store: %v", err)
	}
	return nil
}
