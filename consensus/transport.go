package consensus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// StreamLayer is the TCP stream layer under the Raft transport. It adds
// two things to plain TCP:
//
//   - a greeting: the dialer first sends "TLR1" ‖ len:uvarint ‖ its own
//     advertised Raft address, so the acceptor knows which peer a
//     connection comes from (loopback test clusters share one IP);
//   - partitions: Block cuts this node off from chosen peers without
//     stopping it — dials to them fail, their connections are refused and
//     live ones are closed — and Heal restores the links. The fault tests
//     use it to split a cluster; in production nothing is ever blocked.
//
// Concurrency: mu guards blocked and conns. Accept is fed by a goroutine
// per incoming connection (reading the greeting under a deadline), started
// by the accept loop, which stops when the listener closes.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	accepted  chan net.Conn
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	blocked map[string]bool              // peer raft addresses cut off
	conns   map[string]map[net.Conn]bool // live connections by peer address
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

const greeting = "TLR1"

// ErrPartitioned: the link to that peer is cut by Block.
var ErrPartitioned = errors.New("consensus: link cut by fault injection")

// NewStreamLayer listens on bind. advertise is the address peers dial; when
// empty the bound address is used.
func NewStreamLayer(bind, advertise string) (*StreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen %s: %w", bind, err)
	}
	s := &StreamLayer{ln: ln, advertise: ln.Addr(), accepted: make(chan net.Conn),
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
	go s.acceptLoop()
	return s, nil
}

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

// greet reads a new connection's greeting and hands it to Accept.
func (s *StreamLayer) greet(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(c, 64)
	hdr := make([]byte, len(greeting))
	if _, err := io.ReadFull(br, hdr); err != nil || string(hdr) != greeting {
		c.Close()
		return
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n == 0 || n > 255 {
		c.Close()
		return
	}
	peer := make([]byte, n)
	if _, err := io.ReadFull(br, peer); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	tc, ok := s.track(string(peer), &bufferedConn{Conn: c, r: br})
	if !ok {
		return
	}
	select {
	case s.accepted <- tc:
	case <-s.done:
		tc.Close()
	}
}

// bufferedConn keeps bytes the greeting reader buffered past the greeting.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// trackedConn forgets itself when closed.
type trackedConn struct {
	net.Conn
	s    *StreamLayer
	peer string
	once sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.s.mu.Lock()
		delete(t.s.conns[t.peer], t)
		t.s.mu.Unlock()
	})
	return t.Conn.Close()
}

// track registers a live connection with peer, or closes it if the link is cut.
func (s *StreamLayer) track(peer string, c net.Conn) (net.Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[peer] {
		c.Close()
		return nil, false
	}
	t := &trackedConn{Conn: c, s: s, peer: peer}
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

// Dial connects to a peer and greets it.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	peer := string(address)
	s.mu.Lock()
	cut := s.blocked[peer]
	s.mu.Unlock()
	if cut {
		return nil, fmt.Errorf("dial %s: %w", peer, ErrPartitioned)
	}
	c, err := net.DialTimeout("tcp", peer, timeout)
	if err != nil {
		return nil, err
	}
	self := s.advertise.String()
	msg := append([]byte(greeting), binary.AppendUvarint(nil, uint64(len(self)))...)
	msg = append(msg, self...)
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	tc, ok := s.track(peer, c)
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", peer, ErrPartitioned)
	}
	return tc, nil
}

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
