package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Logger *slog.Logger
	// MaxRequestBytes is socket.request.max.bytes: a bigger frame closes the
	// connection. Default 100 MiB.
	MaxRequestBytes int32
	// FetchSessionSlots is max.incremental.fetch.session.cache.slots
	// (default 1000).
	FetchSessionSlots int
	Metrics           *Metrics // nil: none
	Extra             []ExtraAPI
	// IdleTimeout is connections.max.idle.ms: a connection that sends no
	// request for this long is closed. 0 means Kafka's 10 minutes; negative, never.
	IdleTimeout time.Duration
}

// Server serves the Kafka protocol on a listener.
type Server struct {
	ln       net.Listener
	b        Backend
	log      *slog.Logger
	maxReq   int32
	idle     time.Duration
	m        *Metrics
	extra    map[int16]api
	sessions *fetchSessions

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a Server for ln; Serve starts accepting.
func NewServer(ln net.Listener, b Backend, cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.FetchSessionSlots <= 0 {
		cfg.FetchSessionSlots = 1000
	}
	if cfg.Metrics == nil {
		cfg.Metrics, _ = NewMetrics(nil) // unregistered: cannot fail
	}
	s := &Server{
		ln: ln, b: b, log: cfg.Logger, maxReq: cfg.MaxRequestBytes, idle: cfg.IdleTimeout, m: cfg.Metrics,
		extra:    map[int16]api{},
		sessions: newFetchSessions(cfg.FetchSessionSlots),
		conns:    map[net.Conn]struct{}{},
	}
	s.AddAPIs(cfg.Extra...)
	return s
}

// AddAPIs registers handlers implemented elsewhere; call before Serve.
func (s *Server) AddAPIs(apis ...ExtraAPI) {
	for _, e := range apis {
		h := e.Handle
		s.extra[int16(e.Key)] = api{min: e.Min, max: e.Max, handle: func(ctx context.Context, _ *Server, rc *reqCtx, req kmsg.Request) (kmsg.Response, error) {
			return h(ctx, ClientInfo{ClientID: rc.clientID, Host: rc.host}, req)
		}}
	}
}

// Serve accepts connections until ctx ends or Close; then it closes the
// listener and every connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var err error
	for {
		nc, aerr := s.ln.Accept()
		if aerr != nil {
			if ne, ok := aerr.(net.Error); ok && ne.Timeout() {
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				err = aerr
			}
			break
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			break
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
	s.Close()
	s.wg.Wait()
	return err
}

// Close closes the listener and every open connection.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}

// CloseConns cuts every open client connection, leaving the listener up.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// reqCtx is what a handler knows of the request beyond its body.
type reqCtx struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	host     string
}

var errFrame = errors.New("malformed request frame")

// serveConn reads requests and writes responses in order until the client
// or the server closes the connection, or a request is malformed.
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := s.log.With("remote", nc.RemoteAddr().String())
	s.m.conns.Inc()
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic serving a connection; closing it", "panic", r, "stack", string(debug.Stack()))
		}
		s.m.conns.Dec()
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
	}()
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	br := bufio.NewReaderSize(nc, 64<<10)
	var sizeBuf [4]byte
	var out []byte
	for {
		if s.idle > 0 {
			// The deadline covers waiting for the next request and reading
			// it; a Fetch parked in its handler is not affected.
			nc.SetReadDeadline(time.Now().Add(s.idle))
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > s.maxReq {
			log.Warn("closing connection: bad request size", "size", size, "max", s.maxReq)
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(br, frame); err != nil {
			return
		}
		start := time.Now()
		rc := &reqCtx{host: host}
		resp, err := s.handle(ctx, rc, frame)
		if err != nil {
			log.Debug("closing connection", "api_key", rc.key, "version", rc.version, "err", err)
			return
		}
		s.m.observe(rc.key, time.Since(start))
		if resp == nil {
			continue
		}
		out = s.frameResponse(out[:0], rc, resp)
		if _, err := nc.Write(out); err != nil {
			return
		}
		if cap(out) > 8<<20 {
			out = nil // do not pin a very large fetch response's buffer
		}
	}
}

// handle parses one request frame and runs its handler.
func (s *Server) handle(ctx context.Context, rc *reqCtx, frame []byte) (kmsg.Response, error) {
	rc.key = int16(binary.BigEndian.Uint16(frame))
	rc.version = int16(binary.BigEndian.Uint16(frame[2:]))
	rc.corr = int32(binary.BigEndian.Uint32(frame[4:]))
	body := frame[8:]
	// Client id: a nullable int16-length string, even in flexible headers.
	if len(body) < 2 {
		return nil, errFrame
	}
	n := int16(binary.BigEndian.Uint16(body))
	body = body[2:]
	if n > 0 {
		if len(body) < int(n) {
			return nil, errFrame
		}
		rc.clientID = string(body[:n])
		body = body[n:]
	} else if n < -1 {
		return nil, errFrame
	}
	a, ok := s.lookup(rc.key)
	if !ok || rc.version < a.min || rc.version > a.max {
		if rc.key == int16(kmsg.ApiVersions) {
			// Per KIP-511 the broker answers an ApiVersions it cannot parse
			// with a v0 body: UNSUPPORTED_VERSION and the versions it has.
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			resp.ApiKeys = s.versions()
			rc.version = 0
			return resp, nil
		}
		return nil, fmt.Errorf("unsupported API key %d version %d", rc.key, rc.version)
	}
	req := kmsg.RequestForKey(rc.key)
	if req == nil {
		return nil, fmt.Errorf("unknown API key %d", rc.key)
	}
	req.SetVersion(rc.version)
	if req.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.Key(rc.key).Name(), rc.version, err)
	}
	return a.handle(ctx, s, rc, req)
}

// skipTags skips a tagged-field section of a flexible request header.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errFrame
	}
	b = b[k:]
	for range n {
		_, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errFrame
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, errFrame
		}
		b = b[k+int(size):]
	}
	return b, nil
}

// frameResponse appends the size, header and body of resp to dst.
func (s *Server) frameResponse(dst []byte, rc *reqCtx, resp kmsg.Response) []byte {
	resp.SetVersion(rc.version)
	// A fetch response is mostly record bytes: size the buffer once rather
	// than let append double it (and copy the records) several times over.
	if est := sizeHint(resp); cap(dst) < est {
		dst = make([]byte, 0, est)
	}
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(rc.corr))
	// ApiVersions responses always use header v0 so any client can read them.
	if resp.IsFlexible() && rc.key != int16(kmsg.ApiVersions) {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst
}

// sizeHint estimates the encoded size of resp: exact enough for the record
// bytes that dominate fetch responses, zero (no hint) for other responses.
func sizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 64
	for i := range f.Topics {
		t := &f.Topics[i]
		n += 32 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 64 + len(p.RecordBatches) + 32*len(p.AbortedTransactions)
		}
	}
	return n
}
