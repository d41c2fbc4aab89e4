package ratelimit

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1:4000", "127.0.0.1/32"},
		{"[::ffff:10.0.0.7]:4000", "10.0.0.7/32"},
		{"[2001:db8:1:2:aaaa::1]:4000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:5000", "2001:db8:1:2::/64"},
	}
	for _, tc := range tests {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := Key(a)
		if !ok || got != netip.MustParsePrefix(tc.want) {
			t.Errorf("Key(%s) = %s %v, want %s", tc.addr, got, ok, tc.want)
		}
	}
	if _, ok := Key(&net.UnixAddr{Name: "x", Net: "unix"}); ok {
		t.Error("a unix address has a client key")
	}
}

func TestClient(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:4000", "2001:db8:1:2::/64"},
		{"pipe", "pipe"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if got := Client(r); got != tc.want {
			t.Errorf("Client(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
	// Two addresses of one IPv6 subscriber are one client.
	a, b := httptest.NewRequest("GET", "/", nil), httptest.NewRequest("GET", "/", nil)
	a.RemoteAddr, b.RemoteAddr = "[2001:db8::1]:1", "[2001:db8::ffff:2]:2"
	if Client(a) != Client(b) {
		t.Errorf("one /64, two clients: %q %q", Client(a), Client(b))
	}
}

func TestLimiterRefillsAndIsolatesClients(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(10, 20, 100)
	for i := 0; i < 20; i++ {
		if ok, _ := l.Allow("a", 1, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("a", 1, now)
	if ok || wait <= 0 || wait > 200*time.Millisecond {
		t.Fatalf("21st request: ok=%v wait=%v, want refused with a wait of ~100ms", ok, wait)
	}
	if ok, _ := l.Allow("b", 1, now); !ok {
		t.Fatal("another client is limited by the first one's use")
	}
	now = now.Add(time.Second) // 10 tokens back
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow("a", 1, now); !ok {
			t.Fatalf("refill: request %d refused", i)
		}
	}
	if ok, _ := l.Allow("a", 1, now); ok {
		t.Fatal("more than the refill allowed")
	}
	// A request larger than the burst still passes once the bucket is full.
	now = now.Add(10 * time.Second)
	if ok, _ := l.Allow("a", 1000, now); !ok {
		t.Fatal("an oversized request never passes")
	}
	// A clock that steps back refills nothing and refuses nothing more.
	if ok, _ := l.Allow("a", 1, now.Add(-time.Hour)); ok {
		t.Fatal("a clock stepping back refilled the bucket")
	}
}

func TestLimiterSlowRate(t *testing.T) {
	// Burst of 3, then one token every 10 s.
	t0 := time.Unix(0, 0)
	l := New(0.1, 3, 100)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("192.0.2.1", 1, t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, _ := l.Allow("192.0.2.1", 1, t0); ok {
		t.Error("fourth request in the same instant allowed")
	}
	if ok, _ := l.Allow("192.0.2.1", 1, t0.Add(5*time.Second)); ok {
		t.Error("a token after 5 s at 0.1/s")
	}
	if ok, _ := l.Allow("192.0.2.1", 1, t0.Add(11*time.Second)); !ok {
		t.Error("no token after 11 s at 0.1/s")
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	const max = 1000
	now := time.Unix(0, 0)
	l := New(1, 1, max)
	for i := 0; i < max+10; i++ {
		if i == max {
			now = now.Add(time.Minute) // every earlier bucket is full again
		}
		l.Allow(strconv.Itoa(i), 1, now)
	}
	if n := l.Clients(); n > max {
		t.Fatalf("%d buckets kept, at most %d", n, max)
	}
	// Every client active in one instant: the table still stays bounded,
	// and a new client is never refused for want of room.
	l = New(1, 1, max)
	for i := 0; i < 3*max; i++ {
		if ok, _ := l.Allow(strconv.Itoa(i), 1, now); !ok {
			t.Fatalf("new client %d refused", i)
		}
	}
	if n := l.Clients(); n > max {
		t.Fatalf("%d buckets kept, at most %d", n, max)
	}
}
