package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/traceledger/traceledger/ledger"
)

// metrics are registered on the registry the Server was given: never on
// the global one, so that many nodes can run in one test process.
type metrics struct {
	requests  *prometheus.HistogramVec
	records   *prometheus.CounterVec
	forwarded prometheus.Counter
	// bodyRefusals counts request bodies refused by the body bounds.
	bodyRefusals *prometheus.CounterVec
	// readHits and readBuilds count cached reads (readcache.go) answered
	// from memory and built.
	readHits, readBuilds prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, budget *bodyBudget, cluster Cluster) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "traceledger_http_request_duration_seconds",
			Help:    "HTTP requests by route and status; 499: the client had gone before an answer was written.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "code"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "traceledger_records_total",
			Help: "Answers to POST /v1/records by outcome: created, existing (already in the ledger), or the error code (unknown_lot, not_holder, bad_signature, too_large …). A batch counts each envelope; a request refused as a whole counts once.",
		}, []string{"outcome"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "traceledger_forwarded_requests_total",
			Help: "Requests forwarded to the leader.",
		}),
		bodyRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "traceledger_http_body_refusals_total",
			Help: "Request bodies refused: budget (503, the body budget was full), too_large (413, announced over the per-request limit), too_slow (408, stalled or below the minimum rate).",
		}, []string{"reason"}),
		readHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "traceledger_read_cache_hits_total",
			Help: "Lot JSON, provenance bundles and EPCIS documents answered from the read cache.",
		}),
		readBuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "traceledger_read_cache_builds_total",
			Help: "Lot JSON, provenance bundles and EPCIS documents built because none was cached or the cached one was out of date.",
		}),
	}
	for _, r := range []string{"budget", "too_large", "too_slow"} {
		m.bodyRefusals.WithLabelValues(r) // present at 0 before the first refusal
	}
	budgetInUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "traceledger_http_body_budget_in_use_bytes",
		Help: "Request-body bytes reserved now, across all connections.",
	}, func() float64 { return float64(budget.inUse()) })
	budgetLimit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "traceledger_http_body_budget_bytes",
		Help: "The request-body budget: the most body bytes held at once (0: unlimited).",
	}, func() float64 { return float64(max(budget.limit, 0)) })
	for _, c := range append([]prometheus.Collector{m.requests, m.records, m.forwarded, m.bodyRefusals, m.readHits, m.readBuilds, budgetInUse, budgetLimit}, clusterGauges(cluster)...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool // a header or body was written
}

// statusClientGone labels a request that ended without an answer because
// its client had gone (a write a follower did not forward, say): nginx's
// 499, so that such requests do not count as 200s.
const statusClientGone = 499

// Unwrap lets http.ResponseController reach the connection (read and
// write deadlines, see bodybudget.go).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.status, r.wrote = code, true
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		label := &routeLabel{template: "other"}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeLabelKey{}, label)))
		if !rec.wrote && r.Context().Err() != nil {
			rec.status = statusClientGone
		}
		s.metrics.requests.WithLabelValues(label.template, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	})
}

// routeLabel is where the routers leave the template of the route that
// served a request ("/v1/lots/{gtin}/{lot}"), the label of its metrics;
// instrument puts one in each request's context. A request no route
// served is labelled "other", so that unknown paths cannot grow the
// metric without bound. Only the request's own goroutine touches it.
type routeLabel struct{ template string }

type routeLabelKey struct{}

// labelOf is the request's routeLabel, nil outside instrument.
func labelOf(r *http.Request) *routeLabel {
	l, _ := r.Context().Value(routeLabelKey{}).(*routeLabel)
	return l
}

// labelRoute is the routers' middleware that fills in the request's
// routeLabel. It runs for each router a request passes through, the
// innermost last: a family's prefix, then the family's route.
func labelRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := labelOf(r); l != nil {
			if rt := mux.CurrentRoute(r); rt != nil {
				if t, err := rt.GetPathTemplate(); err == nil {
					l.template = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// unlabelled marks a request answered by a router's 404 or 405 handler
// as served by no route.
func unlabelled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := labelOf(r); l != nil {
			l.template = "other"
		}
		next.ServeHTTP(w, r)
	})
}

// ApplyCounters is what a cluster may count of its state machine since it
// started; *consensus.Node does. A Cluster that implements it gets these
// counters on /metrics too.
type ApplyCounters interface {
	// RefusedLogs counts committed log entries refused as undecodable,
	// of an unknown kind or oversized.
	RefusedLogs() int64
	// UnverifiedRecords counts logged envelopes refused because their
	// record or signature did not verify.
	UnverifiedRecords() int64
	// Restores counts the Raft snapshots installed.
	Restores() int64
}

// clusterGauges exposes the cluster's replication and ledger state on
// /metrics, read when Prometheus scrapes.
func clusterGauges(c Cluster) []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		gauge("traceledger_raft_applied_index", "Last Raft log index applied to this node's state.", func() float64 { return float64(c.Status().Applied) }),
		gauge("traceledger_raft_commit_index", "Last Raft log index known committed.", func() float64 { return float64(c.Status().Commit) }),
		gauge("traceledger_raft_leader", "1 if this node is the Raft leader.", func() float64 {
			if c.IsLeader() {
				return 1
			}
			return 0
		}),
		gauge("traceledger_ledger_entries", "Entries in the ledger on this node.", func() float64 {
			var size uint64
			c.Store().View(func(r ledger.Reader) (err error) { size, err = ledger.Size(r); return err })
			return float64(size)
		}),
		gauge("traceledger_checkpoint_size", "Size of the latest cosigned checkpoint this node holds.", func() float64 {
			cp, _, _, _ := c.LatestCheckpoint()
			return float64(cp.Size)
		}),
	}
	if ac, ok := c.(ApplyCounters); ok {
		counter := func(name, help string, f func() int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
		}
		cs = append(cs,
			counter("traceledger_apply_refused_log_entries_total", "Committed Raft log entries refused because they do not decode, are of an unknown kind or are oversized (no honest leader proposes one).", ac.RefusedLogs),
			counter("traceledger_apply_unverified_records_total", "Logged envelopes refused in apply because their record or signature did not verify (no honest leader proposes one).", ac.UnverifiedRecords),
			gauge("traceledger_snapshot_restores", "Raft snapshots installed since the node started.", func() float64 { return float64(ac.Restores()) }))
	}
	return cs
}
