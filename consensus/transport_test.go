package consensus

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func newLayer(t *testing.T) *StreamLayer {
	t.Helper()
	s, err := NewStreamLayer("127.0.0.1:0", "", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrOf(s *StreamLayer) raft.ServerAddress { return raft.ServerAddress(s.Addr().String()) }

// acceptAsync runs Accept once in the background.
func acceptAsync(s *StreamLayer) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := s.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func accepted(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("Accept failed")
		}
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(waitTimeout):
		t.Fatal("Accept returned nothing")
	}
	return nil
}

func dial(t *testing.T, from, to *StreamLayer) net.Conn {
	t.Helper()
	c, err := from.Dial(addrOf(to), time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFull reads len(want) bytes from c and compares them with want.
func readFull(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %q…, want %q…", got[:min(len(got), 32)], want[:min(len(want), 32)])
	}
}

// expectClosed asserts that the peer closed c: a read ends with an error
// well before the deadline, not because of it.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a connection the peer should have closed: %v", err)
	}
}

// rawGreet dials s with plain TCP and sends hdr and payload in one write.
func rawGreet(t *testing.T, s *StreamLayer, name string, payload []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msg := append(appendGreeting(nil, chanRaft, "peer", name), payload...)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStreamLayerDialAccept(t *testing.T) {
	a, b := newLayer(t), newLayer(t)
	if a.Addr().String() == b.Addr().String() || strings.HasSuffix(a.Addr().String(), ":0") {
		t.Fatalf("addresses %s and %s", a.Addr(), b.Addr())
	}
	ch := acceptAsync(b)
	ca := dial(t, a, b)
	payload := bytes.Repeat([]byte("raft bytes "), 10000)
	go ca.Write(payload)
	sb := accepted(t, ch)
	readFull(t, sb, payload)
	// And back.
	if _, err := sb.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	readFull(t, ca, []byte("reply"))
}

// The greeting and the first bytes after it arrive in one segment: the
// greeting reader buffers part of the payload, which must not be lost.
func TestStreamLayerGreetingAndPayloadInOneWrite(t *testing.T) {
	b := newLayer(t)
	for _, size := range []int{1, 40, 64, 100, 70000} {
		payload := bytes.Repeat([]byte{byte(size)}, size)
		for i := range payload {
			payload[i] += byte(i)
		}
		ch := acceptAsync(b)
		c := rawGreet(t, b, "peer-x:1", payload)
		readFull(t, accepted(t, ch), payload)
		c.Close()
	}
}

func TestStreamLayerAddr(t *testing.T) {
	s := newLayer(t)
	tcp, ok := s.Addr().(*net.TCPAddr)
	if !ok || tcp.Port == 0 || !tcp.IP.IsLoopback() {
		t.Fatalf("Addr() = %#v, want the bound loopback address", s.Addr())
	}
	named, err := NewStreamLayer("127.0.0.1:0", "localhost:1234", "t", nil)
	if err != nil {
		t.Fatalf("advertise localhost:1234: %v", err)
	}
	defer named.Close()
	if got := named.Addr(); got.String() != "localhost:1234" || got.Network() != "tcp" {
		t.Fatalf("Addr() = %s/%s, want the advertised name kept as written", got.Network(), got)
	}
}

func TestStreamLayerRefusesUnreachableAdvertise(t *testing.T) {
	for _, tc := range []struct{ bind, advertise string }{
		{"0.0.0.0:0", ""},
		{"127.0.0.1:0", "0.0.0.0:1234"},
		{"127.0.0.1:0", ":1234"},
		{"127.0.0.1:0", "no port"},
	} {
		s, err := NewStreamLayer(tc.bind, tc.advertise, "t", nil)
		if err == nil {
			s.Close()
			t.Errorf("NewStreamLayer(%q, %q) accepted", tc.bind, tc.advertise)
		}
	}
	// The refused layers released their listeners: the port can be reused.
	s, err := NewStreamLayer("127.0.0.1:0", "", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	port := s.Addr().(*net.TCPAddr).Port
	s.Close()
	if _, err := NewStreamLayer(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "0.0.0.0:1", "t", nil); err == nil {
		t.Fatal("unspecified advertise accepted")
	}
	again, err := NewStreamLayer(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "", "t", nil)
	if err != nil {
		t.Fatalf("port not released after a refused advertise: %v", err)
	}
	again.Close()
}

func TestStreamLayerBlockAndHeal(t *testing.T) {
	a, b := newLayer(t), newLayer(t)

	// A live link, both ways tracked: a dialed b.
	ch := acceptAsync(b)
	ca := dial(t, a, b)
	ca.Write([]byte("x"))
	sb := accepted(t, ch)
	readFull(t, sb, []byte("x"))

	a.Block(b.Addr().String())
	if got := a.Blocked(); len(got) != 1 || got[0] != b.Addr().String() {
		t.Fatalf("Blocked() = %v", got)
	}
	// a closed its end; b sees the link drop at once.
	expectClosed(t, sb)
	// a cannot dial b.
	if _, err := a.Dial(addrOf(b), time.Second); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial across the cut: %v, want ErrPartitioned", err)
	}
	// b can still reach a's port, but a drops the connection after the
	// greeting and never hands it to Accept.
	ach := acceptAsync(a)
	cb := dial(t, b, a)
	cb.Write([]byte("before heal"))
	expectClosed(t, cb)

	a.Heal()
	if got := a.Blocked(); len(got) != 0 {
		t.Fatalf("Blocked() after Heal = %v", got)
	}
	cb2 := dial(t, b, a)
	cb2.Write([]byte("after heal"))
	// The first connection a's Accept returns is the one after the heal.
	readFull(t, accepted(t, ach), []byte("after heal"))

	bch := acceptAsync(b)
	ca2 := dial(t, a, b)
	ca2.Write([]byte("dial ok"))
	readFull(t, accepted(t, bch), []byte("dial ok"))
}

// A connection accepted from a peer is cut by Block of the peer's
// advertised name, the one it greeted with.
func TestStreamLayerBlockClosesAcceptedConns(t *testing.T) {
	b := newLayer(t)
	ch := acceptAsync(b)
	c := rawGreet(t, b, "peer-y:7", []byte("hi"))
	readFull(t, accepted(t, ch), []byte("hi"))
	b.Block("peer-other:1")
	b.Block("peer-y:7")
	expectClosed(t, c)
}

func TestStreamLayerDropsBadGreeting(t *testing.T) {
	b := newLayer(t)
	ch := acceptAsync(b)
	bad := [][]byte{
		[]byte("NOPE\x05hello"),
		[]byte(greeting + "R\x00"),                                                 // empty id
		[]byte(greeting + "X\x01a\x01b"),                                           // unknown channel
		[]byte(greeting + "R\x01a\x00"),                                            // empty address
		append([]byte(greeting+"R"), 0x80, 0x02),                                   // id longer than 255
		append([]byte(greeting+"R"), append(bytes.Repeat([]byte{0xff}, 10), 1)...), // varint overflow
	}
	for _, msg := range bad {
		c, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	}
	a := newLayer(t)
	ca := dial(t, a, b)
	ca.Write([]byte("good"))
	readFull(t, accepted(t, ch), []byte("good"))
}

func TestStreamLayerClose(t *testing.T) {
	s, err := NewStreamLayer("127.0.0.1:0", "", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Accept()
		done <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := s.Accept(); err == nil {
		t.Fatal("Accept on a closed layer succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	other := newLayer(t)
	if c, err := other.Dial(addrOf(s), time.Second); err == nil {
		c.Close()
		t.Fatal("dial to a closed layer succeeded")
	}
}
