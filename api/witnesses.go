package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traceledger/traceledger/consensus"
	"github.com/traceledger/traceledger/ledger"
)

// witnessCollector exports, at each scrape, what this node knows of the
// outside witnesses (consensus.WitnessStatus). Only the leader sends them
// checkpoints, so only the leader exports these series: a follower's
// would say that no witness ever cosigned.
type witnessCollector struct {
	status func() consensus.Status

	cosigned, lag, failures, lastOK, lastErr *prometheus.Desc
}

func newWitnessCollector(status func() consensus.Status) *witnessCollector {
	l := []string{"witness"}
	return &witnessCollector{
		status: status,
		cosigned: prometheus.NewDesc("traceledger_witness_cosigned_size",
			"The newest checkpoint size the witness cosigned for this node (the leader).", l, nil),
		lag: prometheus.NewDesc("traceledger_witness_lag_entries",
			"Entries in the latest checkpoint beyond the newest one the witness cosigned.", l, nil),
		failures: prometheus.NewDesc("traceledger_witness_failures_total",
			"add-checkpoint requests to the witness that brought no cosignature.", l, nil),
		lastOK: prometheus.NewDesc("traceledger_witness_last_cosigned_timestamp_seconds",
			"When the witness last cosigned a checkpoint (0: not since this node became leader).", l, nil),
		lastErr: prometheus.NewDesc("traceledger_witness_last_error",
			"1 with the witness's last error as a label while its latest attempt failed.", []string{"witness", "error"}, nil),
	}
}

func (c *witnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cosigned, c.lag, c.failures, c.lastOK, c.lastErr} {
		ch <- d
	}
}

func (c *witnessCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	if st.State != "Leader" {
		return
	}
	for _, w := range st.Witnesses {
		ch <- prometheus.MustNewConstMetric(c.cosigned, prometheus.GaugeValue, float64(w.Cosigned), w.Name)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(w.Lag), w.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(w.Failures), w.Name)
		var ok float64
		if !w.LastOK.IsZero() {
			ok = float64(w.LastOK.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.lastOK, prometheus.GaugeValue, ok, w.Name)
		if w.LastError != "" {
			ch <- prometheus.MustNewConstMetric(c.lastErr, prometheus.GaugeValue, 1, w.Name, w.LastError)
		}
	}
}

// witnessWait bounds how long a read waits for the witnesses'
// cosignatures of a fresh checkpoint.
const witnessWait = time.Second

// witnessedCheckpoint waits, at most witnessWait, for a checkpoint that
// covers size entries and carries the outside witnesses' cosignatures,
// when this node has witnesses and they have cosigned before: a bundle
// made against it satisfies a verifier's witness policy. ok is false
// otherwise; the caller then uses the latest checkpoint. Witnesses that
// never answered cost a read nothing; witnesses that stopped answering
// cost it witnessWait.
func (s *Server) witnessedCheckpoint(ctx context.Context, size uint64) (ledger.Checkpoint, []byte, bool) {
	if len(s.cluster.Status().Witnesses) == 0 {
		return ledger.Checkpoint{}, nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, witnessWait)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		var c ledger.Checkpoint
		var msg []byte
		var ok bool
		err := s.cluster.Store().View(func(r ledger.Reader) (err error) {
			c, msg, ok, err = ledger.WitnessedCheckpoint(r)
			return err
		})
		if err != nil || !ok {
			return ledger.Checkpoint{}, nil, false
		}
		if c.Size >= size {
			return c, msg, true
		}
		select {
		case <-ctx.Done():
			return ledger.Checkpoint{}, nil, false
		case <-t.C:
		}
	}
}
