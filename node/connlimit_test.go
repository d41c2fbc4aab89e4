package node

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnLimiter(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	ln := limitConns(raw, 2, func() { refused.Add(1) }, slog.New(slog.DiscardHandler)).(*connLimiter)
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() { // ends when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByServer reports whether the server closed c: a read ends
	// with EOF or a reset instead of its deadline.
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}

	c1, c2 := dial(), dial()
	s1, s2 := <-accepted, <-accepted
	c3 := dial()
	c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); err == nil || (!errors.Is(err, io.EOF) && !isReset(err)) {
		t.Fatalf("third connection from one client: read %v, want it closed", err)
	}
	if got := refused.Load(); got != 1 {
		t.Errorf("refused %d, want 1", got)
	}
	if closedByServer(c1) || closedByServer(c2) {
		t.Fatal("a connection within the limit was closed")
	}

	// Closing a connection (twice, as the HTTP server may) frees one slot.
	s1.Close()
	s1.Close()
	c4 := dial()
	s4 := <-accepted
	if closedByServer(c4) {
		t.Fatal("a connection after a slot was freed was closed")
	}
	c5 := dial()
	c5.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c5.Read(make([]byte, 1)); err == nil || (!errors.Is(err, io.EOF) && !isReset(err)) {
		t.Fatalf("connection over the limit again: read %v, want it closed", err)
	}
	s2.Close()
	s4.Close()
	ln.mu.Lock()
	left := len(ln.open)
	ln.mu.Unlock()
	if left != 0 {
		t.Errorf("%d client entries left after every connection closed", left)
	}
	if cw, ok := s4.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() == nil {
		// Closed already: CloseWrite reaches the TCP connection and fails.
		t.Error("a limited connection does not pass CloseWrite through")
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func TestConnLimiterOff(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if ln := limitConns(raw, -1, func() {}, slog.New(slog.DiscardHandler)); ln != raw {
		t.Error("a negative limit still wraps the listener")
	}
}
