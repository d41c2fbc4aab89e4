package node

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/traceledger/traceledger/api/ratelimit"
)

// DefaultMaxConnsPerClient is how many connections one client address may
// hold open at once. A browser opens at most six per host and the CLI and
// field app one or two; 64 leaves room for a carrier's NAT putting many
// phones behind one address, while one address can no longer hold
// thousands of sockets, goroutines and buffers.
const DefaultMaxConnsPerClient = 64

// connLimiter is a listener that closes, right after accepting it, any
// connection from a client address that already has max connections open.
// It closes rather than answering 429: answering would mean reading the
// request (or, with TLS, shaking hands) first, which is the very work and
// time the excess connection should not get. Clients see the connection
// closed and retry, as after any network error.
//
// A client address is the IPv4 address, or the IPv6 /64 (one subscriber's
// prefix: an IPv6 host can pick any address in its /64).
//
// Concurrency: mu guards open. Accept is called by the http.Server's accept
// loop; Close of a returned connection may come from any goroutine.
type connLimiter struct {
	net.Listener
	max     int
	refused func() // counts a refused connection
	logger  *slog.Logger

	mu   sync.Mutex
	open map[netip.Prefix]int // connections open per client; no zero entries
}

// limitConns wraps ln; max ≤ 0 means no limit.
func limitConns(ln net.Listener, max int, refused func(), logger *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: max, refused: refused, logger: logger, open: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the limit, closing those beyond it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := ratelimit.Key(c.RemoteAddr())
		if !ok { // not TCP/IP (a test pipe): nothing to count
			return c, nil
		}
		if l.take(key) {
			return &limitedConn{Conn: c, release: func() { l.give(key) }}, nil
		}
		l.refused()
		l.logger.Debug("connection refused: too many from this client", "client", key, "max", l.max)
		c.Close()
	}
}

func (l *connLimiter) take(key netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return false
	}
	l.open[key]++
	return true
}

func (l *connLimiter) give(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes, as *net.TCPConn does: the HTTP server uses it
// to let a client read an answer before the connection is reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
