package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafka"
)

// peers is this node's client to the other nodes' Kafka listeners, for the
// broker-to-broker requests (registration and heartbeats to the controller).
// One connection per peer, one request at a time on it; a failed request
// drops the connection. The peers speak this package's own API versions.
type peers struct {
	clientID string
	mu       sync.Mutex
	conns    map[int32]*peerConn
}

type peerConn struct {
	mu   sync.Mutex // one request at a time
	addr string
	c    net.Conn
	r    *bufio.Reader
	corr int32
}

func newPeers(nodeID int32) *peers {
	return &peers{clientID: "sluice-broker-" + strconv.Itoa(int(nodeID)), conns: map[int32]*peerConn{}}
}

// maxPeerResponse bounds a peer's response so a broken peer cannot make us
// allocate wildly.
const maxPeerResponse = 256 << 20

func (p *peers) request(ctx context.Context, id int32, addr string, req kmsg.Request) (kmsg.Response, error) {
	_, max, ok := kafka.Registered(kmsg.Key(req.Key()))
	if !ok {
		return nil, fmt.Errorf("peer request: API %d not implemented", req.Key())
	}
	req.SetVersion(min(max, req.MaxVersion()))
	p.mu.Lock()
	pc := p.conns[id]
	if pc == nil || pc.addr != addr {
		if pc != nil {
			pc.close()
		}
		pc = &peerConn{addr: addr}
		p.conns[id] = pc
	}
	p.mu.Unlock()

	pc.mu.Lock()
	defer pc.mu.Unlock()
	resp, err := pc.roundTrip(ctx, p.clientID, req)
	if err != nil {
		pc.closeLocked()
	}
	return resp, err
}

func (pc *peerConn) roundTrip(ctx context.Context, clientID string, req kmsg.Request) (kmsg.Response, error) {
	if pc.c == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", pc.addr)
		if err != nil {
			return nil, err
		}
		pc.c, pc.r = c, bufio.NewReader(c)
	}
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	pc.c.SetDeadline(deadline)
	// The context's end interrupts the exchange.
	stop := context.AfterFunc(ctx, func() { pc.c.SetDeadline(time.Now()) })
	defer stop()

	pc.corr++
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, pc.corr)
	if _, err := pc.c.Write(buf); err != nil {
		return nil, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(pc.r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	if size < 4 || size > maxPeerResponse {
		return nil, fmt.Errorf("peer response of %d bytes", size)
	}
	if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != pc.corr {
		return nil, fmt.Errorf("peer response for request %d, want %d", corr, pc.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(pc.r, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		// The response header's tagged fields: skip them.
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("peer response: %w", err)
	}
	return resp, nil
}

func (pc *peerConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closeLocked()
}

func (pc *peerConn) closeLocked() {
	if pc.c != nil {
		pc.c.Close()
		pc.c, pc.r = nil, nil
	}
}

// closeAll drops every connection.
func (p *peers) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[int32]*peerConn{}
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// skipTags skips a tagged-field section (a count, then tag, size, bytes).
func skipTags(b []byte) ([]byte, error) {
	bad := errors.New("peer response: bad header tags")
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, bad
	}
	b = b[k:]
	for ; n > 0; n-- {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, bad
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, bad
		}
		b = b[k+int(size):]
	}
	return b, nil
}
