package consensus

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// StreamLayer is the stream layer under the Raft transport. It adds to
// plain TCP:
//
//   - mutual TLS 1.3 when PeerTLS is configured: both ends present a
//     certificate from the cluster's CA that names their node id, and a
//     connection without one never gets past the handshake;
//   - a greeting: the dialer first sends
//     "TLR2" ‖ channel:1 ‖ len:uvarint ‖ node id ‖ len:uvarint ‖ Raft address,
//     so the acceptor knows which peer a connection comes from (loopback
//     test clusters share one IP) and, with TLS, refuses a peer whose
//     certificate names another node than the one it claims;
//   - two channels on one port: 'R' connections carry Raft and are handed
//     to Accept, 'H' connections carry node-to-node HTTP (forwarded writes,
//     cosigning, joins, status) and are handed to PeerListener, so that
//     everything between members is authenticated the same way;
//   - partitions: Block cuts this node off from chosen peers without
//     stopping it — dials to them fail, their connections are refused and
//     live ones are closed — and Heal restores the links. The fault tests
//     use it to split a cluster; in production nothing is ever blocked.
//
// Concurrency: mu guards blocked and conns; resolve is set once, before
// Raft starts. Accept and PeerListener are fed by a goroutine per incoming
// connection (handshake and greeting under a deadline), started by the
// accept loop, which stops when the listener closes.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	id        string       // this node's id, sent in greetings
	tls       *PeerTLS     // nil: plaintext (a loopback dev cluster)
	client    *http.Client // node-to-node HTTP over DialHTTP
	accepted  chan net.Conn
	peerHTTP  chan net.Conn
	done      chan struct{}
	closeOnce sync.Once

	// resolve names the node expected at a Raft address, when known; a
	// dialed peer must present that node's certificate.
	resolve func(addr string) (id string, ok bool)

	mu      sync.Mutex
	blocked map[string]bool              // peer raft addresses cut off
	conns   map[string]map[net.Conn]bool // live connections by peer address
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

const greeting = "TLR2"

// Channels of a connection, named in its greeting.
const (
	chanRaft byte = 'R'
	chanHTTP byte = 'H'
)

// handshakeTimeout bounds the TLS handshake and the greeting of a new
// connection: a peer that connects and says nothing holds a goroutine
// and a file descriptor only this long.
const handshakeTimeout = 5 * time.Second

// ErrPartitioned: the link to that peer is cut by Block.
var ErrPartitioned = errors.New("consensus: link cut by fault injection")

// NewStreamLayer listens on bind as node id. advertise is the address peers
// dial; when empty the bound address is used. With peer TLS, every
// connection in either direction is mutual TLS 1.3 and plaintext peers are
// refused.
func NewStreamLayer(bind, advertise, id string, peer *PeerTLS) (*StreamLayer, error) {
	if peer != nil && peer.NodeID() != id {
		return nil, fmt.Errorf("%w: this node is %q, its certificate names %q", ErrPeerIdentity, id, peer.NodeID())
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen %s: %w", bind, err)
	}
	s := &StreamLayer{ln: ln, advertise: ln.Addr(), id: id, tls: peer, accepted: make(chan net.Conn), peerHTTP: make(chan net.Conn),
		done: make(chan struct{}), blocked: map[string]bool{}, conns: map[string]map[net.Conn]bool{}}
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft advertise address %q: %w", advertise, err)
		}
		if a.IP == nil || a.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("raft advertise address %q must name a reachable host", advertise)
		}
		// Keep the name as given: a container's IP may change across
		// restarts, its name on the cluster network does not.
		s.advertise = namedAddr(advertise)
	} else if a := ln.Addr().(*net.TCPAddr); a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft bind %q listens on all interfaces: set --raft-advertise", bind)
	}
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: s.DialHTTP, MaxIdleConnsPerHost: 8, IdleConnTimeout: time.Minute}}
	go s.acceptLoop()
	return s, nil
}

// Client makes node-to-node HTTP requests over this layer's HTTP channel:
// to URLs from PeerURL, authenticated like Raft itself.
func (s *StreamLayer) Client() *http.Client { return s.client }

// Secure reports whether peers are authenticated by mutual TLS.
func (s *StreamLayer) Secure() bool { return s.tls != nil }

// acceptLoop runs until the listener closes. A transient Accept error
// (out of file descriptors) is retried with backoff, as net/http does:
// giving up would cut the node off from Raft for good.
func (s *StreamLayer) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.Close()
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
				continue
			case <-s.done:
				return
			}
		}
		delay = 0
		go s.greet(c)
	}
}

// greet authenticates a new connection (TLS), reads its greeting and hands
// it to Accept or to PeerListener. Anything wrong closes it.
func (s *StreamLayer) greet(c net.Conn) {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	certID := ""
	if s.tls != nil {
		tc := tls.Server(c, s.tls.serverConfig())
		if err := tc.Handshake(); err != nil {
			c.Close()
			return
		}
		certID, _ = NodeIDOf(tc.ConnectionState().PeerCertificates[0])
		c = tc
	}
	br := bufio.NewReaderSize(c, 512)
	ch, id, peer, err := readGreeting(br)
	if err != nil || (s.tls != nil && id != certID) {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	tc, ok := s.track(peer, id, s.tls != nil, &bufferedConn{Conn: c, r: br})
	if !ok {
		return
	}
	out := s.accepted
	if ch == chanHTTP {
		out = s.peerHTTP
	}
	select {
	case out <- tc:
	case <-s.done:
		tc.Close()
	}
}

func readGreeting(br *bufio.Reader) (ch byte, id, addr string, err error) {
	hdr := make([]byte, len(greeting)+1)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return 0, "", "", err
	}
	if string(hdr[:len(greeting)]) != greeting || (hdr[len(greeting)] != chanRaft && hdr[len(greeting)] != chanHTTP) {
		return 0, "", "", errors.New("bad greeting")
	}
	field := func() (string, error) {
		n, err := binary.ReadUvarint(br)
		if err != nil || n == 0 || n > 255 {
			return "", errors.New("bad greeting field")
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return string(b), err
	}
	if id, err = field(); err != nil {
		return 0, "", "", err
	}
	if addr, err = field(); err != nil {
		return 0, "", "", err
	}
	return hdr[len(greeting)], id, addr, nil
}

func appendGreeting(b []byte, ch byte, id, addr string) []byte {
	b = append(append(b, greeting...), ch)
	b = append(binary.AppendUvarint(b, uint64(len(id))), id...)
	return append(binary.AppendUvarint(b, uint64(len(addr))), addr...)
}

// bufferedConn keeps bytes the greeting reader buffered past the greeting.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// trackedConn forgets itself when closed. It knows the peer's node id and
// whether a certificate vouches for it.
type trackedConn struct {
	net.Conn
	s      *StreamLayer
	peer   string
	id     string
	authed bool
	once   sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.s.mu.Lock()
		delete(t.s.conns[t.peer], t)
		t.s.mu.Unlock()
	})
	return t.Conn.Close()
}

// PeerOf names the member at the other end of a connection this layer
// accepted, and whether its certificate proves it (false without peer
// TLS, when the id is only claimed).
func PeerOf(c net.Conn) (id string, authenticated bool) {
	if t, ok := c.(*trackedConn); ok {
		return t.id, t.authed
	}
	return "", false
}

// track registers a live connection with peer, or closes it if the link is cut.
func (s *StreamLayer) track(peer, id string, authed bool, c net.Conn) (net.Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[peer] {
		c.Close()
		return nil, false
	}
	t := &trackedConn{Conn: c, s: s, peer: peer, id: id, authed: authed}
	if s.conns[peer] == nil {
		s.conns[peer] = map[net.Conn]bool{}
	}
	s.conns[peer][t] = true
	return t, true
}

// namedAddr is an advertised address kept as written (host name or IP).
type namedAddr string

func (a namedAddr) Network() string { return "tcp" }
func (a namedAddr) String() string  { return string(a) }

// Accept returns the next greeted incoming connection.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening.
func (s *StreamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// Addr is the advertised address: what peers dial and what Raft records.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer's Raft channel.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dial(ctx, string(address), chanRaft)
}

// DialHTTP connects to a peer's node-to-node HTTP channel at its Raft
// address. It has the signature of http.Transport's DialContext.
func (s *StreamLayer) DialHTTP(ctx context.Context, _, address string) (net.Conn, error) {
	return s.dial(ctx, address, chanHTTP)
}

// dial connects, authenticates the peer (TLS) and greets it.
func (s *StreamLayer) dial(ctx context.Context, peer string, ch byte) (net.Conn, error) {
	s.mu.Lock()
	cut := s.blocked[peer]
	s.mu.Unlock()
	if cut {
		return nil, fmt.Errorf("dial %s: %w", peer, ErrPartitioned)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", peer)
	if err != nil {
		return nil, err
	}
	wantID := ""
	if s.tls != nil {
		host, _, err := net.SplitHostPort(peer)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("dial %s: %w", peer, err)
		}
		if s.resolve != nil {
			wantID, _ = s.resolve(peer)
		}
		tc := tls.Client(c, s.tls.clientConfig(host, wantID))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("dial %s: %w", peer, err)
		}
		wantID, _ = NodeIDOf(tc.ConnectionState().PeerCertificates[0])
		c = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(appendGreeting(nil, ch, s.id, s.advertise.String())); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	tc, ok := s.track(peer, wantID, s.tls != nil, c)
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", peer, ErrPartitioned)
	}
	return tc, nil
}

// PeerListener returns the listener of node-to-node HTTP connections:
// greeted 'H' connections on the Raft port. Each call returns a new
// listener; closing one ends its Accept without closing the stream layer.
func (s *StreamLayer) PeerListener() net.Listener {
	return &peerListener{s: s, closed: make(chan struct{})}
}

type peerListener struct {
	s      *StreamLayer
	closed chan struct{}
	once   sync.Once
}

func (l *peerListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.peerHTTP:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *peerListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *peerListener) Addr() net.Addr { return l.s.advertise }

// Block cuts the links to the given peer Raft addresses, closing live
// connections with them. The peers should block this node too, so that the
// cut is symmetric.
func (s *StreamLayer) Block(peers ...string) {
	s.mu.Lock()
	var doomed []net.Conn
	for _, p := range peers {
		s.blocked[p] = true
		for c := range s.conns[p] {
			doomed = append(doomed, c)
		}
	}
	s.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// Heal restores every cut link.
func (s *StreamLayer) Heal() {
	s.mu.Lock()
	s.blocked = map[string]bool{}
	s.mu.Unlock()
}

// Blocked lists the cut links.
func (s *StreamLayer) Blocked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.blocked))
	for p := range s.blocked {
		out = append(out, p)
	}
	return out
}
