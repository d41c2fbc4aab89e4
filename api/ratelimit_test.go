package api

import (
	"testing"
	"time"
)

func TestLimiterRefillsAndIsolatesClients(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(10, 20, func() time.Time { return now })
	for i := 0; i < 20; i++ {
		if ok, _ := l.allow("a", 1); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.allow("a", 1)
	if ok || wait <= 0 || wait > 200*time.Millisecond {
		t.Fatalf("21st request: ok=%v wait=%v, want refused with a wait of ~100ms", ok, wait)
	}
	if ok, _ := l.allow("b", 1); !ok {
		t.Fatal("another client is limited by the first one's use")
	}
	now = now.Add(time.Second) // 10 tokens back
	for i := 0; i < 10; i++ {
		if ok, _ := l.allow("a", 1); !ok {
			t.Fatalf("refill: request %d refused", i)
		}
	}
	if ok, _ := l.allow("a", 1); ok {
		t.Fatal("more than the refill allowed")
	}
	// A request larger than the burst still passes once the bucket is full.
	now = now.Add(10 * time.Second)
	if ok, _ := l.allow("a", 1000); !ok {
		t.Fatal("an oversized request never passes")
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(1, 1, func() time.Time { return now })
	for i := 0; i < maxClients+10; i++ {
		if i == maxClients {
			now = now.Add(time.Minute) // every earlier bucket is full again
		}
		l.allow(string(rune(i)), 1)
	}
	if len(l.buckets) > maxClients {
		t.Fatalf("%d buckets kept, at most %d", len(l.buckets), maxClients)
	}
}
