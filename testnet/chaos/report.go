package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a chaos run found. Every list names its anomalies one
// by one; a run is clean when Anomalies returns none.
type Report struct {
	Seed        uint64  `json:"seed"`
	Nodes       int     `json:"nodes"`
	PeerTLS     bool    `json:"peer_tls"`
	Seconds     float64 `json:"duration_seconds"`
	IntervalMS  float64 `json:"fault_interval_ms"`
	RaftTimeout string  `json:"raft_timeout"`

	// Operations counts the clients' operations by kind ("all" sums them).
	Operations map[string]*OpCounts `json:"operations"`
	Faults     []FaultCount         `json:"faults"`
	// LinkRequests counts the fault-injection requests that set a node's
	// cut Raft links (partitions, and their lifting); LinkRequestsFailed
	// those that got no answer because the node was paused or killed
	// meanwhile (its peers' blocks still cut the links).
	LinkRequests       int `json:"link_requests"`
	LinkRequestsFailed int `json:"link_requests_failed"`
	// ConvergeSeconds is the time from the end of the faults to every node
	// holding the same log and serving a checkpoint of all of it.
	ConvergeSeconds float64 `json:"converge_seconds"`
	Converged       bool    `json:"converged"`
	LogSize         uint64  `json:"log_size"`

	Lost            []string `json:"lost"`             // acknowledged, not in the log (or elsewhere than acknowledged)
	Duplicated      []string `json:"duplicated"`       // a record or signature in the log twice
	RefusedApplied  []string `json:"refused_applied"`  // refused, yet in the log
	OutOfOrder      []string `json:"out_of_order"`     // a write in the log before one acknowledged before it was sent
	Divergent       []string `json:"divergent"`        // nodes whose log is not the others'
	CheckpointsSeen int      `json:"checkpoints_seen"` // distinct checkpoints clients were served
	Forks           []string `json:"forks"`            // checkpoints not of the final log, or not validly signed
	Rollbacks       []string `json:"rollbacks"`        // a node serving a smaller checkpoint than before
	LotsChecked     int      `json:"lots_checked"`
	NonLinearizable []string `json:"non_linearizable"` // lots whose custody history no order explains
	Errors          []string `json:"errors"`           // the run itself went wrong: a node did not restart, did not converge …

	// Races counts the rounds of two transfers of one lot racing through
	// two nodes in which exactly one won; RaceLosers the losers' refusal
	// codes; RaceFailures the round that went otherwise.
	Races        int            `json:"races"`
	RaceLosers   map[string]int `json:"race_losers,omitempty"`
	RaceFailures []string       `json:"race_failures"`
}

// OpCounts counts operations of one kind. Unknown outcomes are split by
// what the final log says of them.
type OpCounts struct {
	Operations     int `json:"operations"`
	Acknowledged   int `json:"acknowledged"`
	Refused        int `json:"refused"`
	Unknown        int `json:"unknown"`
	UnknownApplied int `json:"unknown_applied"` // of Unknown, found in the log
}

// FaultCount counts faults of one kind, with how long the cluster took
// to acknowledge a write again after each ended.
type FaultCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	Ended int    `json:"ended"`
	// LastedMedianMS: from a fault to its end (a killed node answering
	// again, a thaw, a partition lifted), the median.
	LastedMedianMS float64 `json:"lasted_median_ms"`
	// NextAckMedianMS and NextAckMaxMS: from a fault's end to the next
	// acknowledged write.
	NextAckMedianMS float64 `json:"next_ack_median_ms"`
	NextAckMaxMS    float64 `json:"next_ack_max_ms"`
}

// Anomalies lists what went wrong, one line per category; none for a
// clean run.
func (r *Report) Anomalies() []string {
	var out []string
	add := func(what string, list []string) {
		if len(list) > 0 {
			out = append(out, fmt.Sprintf("%d %s", len(list), what))
		}
	}
	if !r.Converged {
		out = append(out, "the nodes did not converge")
	}
	add("lost acknowledged envelopes", r.Lost)
	add("duplicated envelopes", r.Duplicated)
	add("refused envelopes in the log", r.RefusedApplied)
	add("writes out of real-time order in the log", r.OutOfOrder)
	add("divergent nodes", r.Divergent)
	add("checkpoint forks", r.Forks)
	add("checkpoint rollbacks", r.Rollbacks)
	add("non-linearizable lots", r.NonLinearizable)
	add("run errors", r.Errors)
	add("racing transfers that did not end with one winner", r.RaceFailures)
	return out
}

// opKinds is the order the table lists operations in.
var opKinds = []string{"harvest", "transfer", "receive", "transform", "read", "all"}

// countOps fills Operations from the history.
func (r *Report) countOps(history []*op) {
	r.Operations = map[string]*OpCounts{}
	for _, k := range opKinds {
		r.Operations[k] = &OpCounts{}
	}
	for _, o := range history {
		for _, c := range []*OpCounts{r.Operations[o.Kind], r.Operations["all"]} {
			c.Operations++
			switch o.Out.Outcome {
			case outAcked, outRead:
				c.Acknowledged++
			case outRefused:
				c.Refused++
			case outUnknown:
				c.Unknown++
				if o.resolved == resolvedApplied {
					c.UnknownApplied++
				}
			}
		}
	}
}

// countFaults fills Faults from the nemesis's record and the times of
// acknowledged writes.
func (r *Report) countFaults(faults []fault, history []*op) {
	var acks []time.Duration
	for _, o := range history {
		if o.Env != nil && o.Out.Outcome == outAcked {
			acks = append(acks, o.Return)
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	for _, kind := range FaultKinds {
		fc := FaultCount{Kind: kind}
		var gaps, lasted []time.Duration
		for _, f := range faults {
			if f.Kind != kind {
				continue
			}
			fc.Count++
			if f.Healed == 0 {
				continue
			}
			fc.Ended++
			lasted = append(lasted, f.Healed-f.At)
			if i := sort.Search(len(acks), func(i int) bool { return acks[i] >= f.Healed }); i < len(acks) {
				gaps = append(gaps, acks[i]-f.Healed)
			}
		}
		if len(lasted) > 0 {
			sort.Slice(lasted, func(i, j int) bool { return lasted[i] < lasted[j] })
			fc.LastedMedianMS = ms(lasted[len(lasted)/2])
		}
		if len(gaps) > 0 {
			sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
			fc.NextAckMedianMS = ms(gaps[len(gaps)/2])
			fc.NextAckMaxMS = ms(gaps[len(gaps)-1])
		}
		r.Faults = append(r.Faults, fc)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteJSON writes the report as one JSON document; every list is an
// array, empty when nothing was found.
func (r *Report) WriteJSON(w io.Writer) error {
	for _, l := range []*[]string{&r.Lost, &r.Duplicated, &r.RefusedApplied, &r.OutOfOrder, &r.Divergent, &r.Forks,
		&r.Rollbacks, &r.NonLinearizable, &r.Errors, &r.RaceFailures} {
		if *l == nil {
			*l = []string{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned plain text, each anomaly
// listed under its count.
func (r *Report) WriteTable(w io.Writer) error {
	tls := "plaintext peers"
	if r.PeerTLS {
		tls = "peer TLS"
	}
	fmt.Fprintf(w, "chaos: %d nodes, %s, %.0f s, seed %d, a fault every %.0f ms, raft timeout %s\n\n",
		r.Nodes, tls, r.Seconds, r.Seed, r.IntervalMS, r.RaftTimeout)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\toperations\tacknowledged\trefused\tunknown\tof which applied\t")
	for _, k := range opKinds {
		c := r.Operations[k]
		if c == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", k, c.Operations, c.Acknowledged, c.Refused, c.Unknown, c.UnknownApplied)
	}
	tw.Flush()
	fmt.Fprintln(w, "(a read is acknowledged when it got an answer; reads without one are not counted)")
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tinjected\tended\tlasted, median\tnext ack, median\tnext ack, max\t")
	total := 0
	for _, f := range r.Faults {
		total += f.Count
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f ms\t%.0f ms\t%.0f ms\t\n", f.Kind, f.Count, f.Ended, f.LastedMedianMS, f.NextAckMedianMS, f.NextAckMaxMS)
	}
	fmt.Fprintf(tw, "all\t%d\t\t\t\t\t\n", total)
	tw.Flush()
	fmt.Fprintf(w, "(partitions set by %d fault-injection requests, %d unanswered by a paused or killed node)\n", r.LinkRequests, r.LinkRequestsFailed)
	fmt.Fprintln(w)
	if r.Converged {
		fmt.Fprintf(w, "converged %.2f s after the last fault: every node holds the same log of %d entries and serves its checkpoint\n\n", r.ConvergeSeconds, r.LogSize)
	} else {
		fmt.Fprintf(w, "NOT converged within %.0f s of the last fault\n\n", r.ConvergeSeconds)
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "check\tfound\t")
	rows := []struct {
		what  string
		n     int
		items []string
	}{
		{"lost acknowledged envelopes", len(r.Lost), r.Lost},
		{"duplicated envelopes", len(r.Duplicated), r.Duplicated},
		{"refused envelopes in the log", len(r.RefusedApplied), r.RefusedApplied},
		{"writes out of real-time order", len(r.OutOfOrder), r.OutOfOrder},
		{"divergent nodes", len(r.Divergent), r.Divergent},
		{"checkpoints served to clients", r.CheckpointsSeen, nil},
		{"checkpoint forks", len(r.Forks), r.Forks},
		{"checkpoint rollbacks", len(r.Rollbacks), r.Rollbacks},
		{"lots checked for linearizability", r.LotsChecked, nil},
		{"non-linearizable lots", len(r.NonLinearizable), r.NonLinearizable},
		{"run errors", len(r.Errors), r.Errors},
		{"racing transfers with one winner", r.Races, nil},
		{"racing transfers without", len(r.RaceFailures), r.RaceFailures},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%d\t\n", row.what, row.n)
	}
	tw.Flush()
	for _, row := range rows {
		for i, it := range row.items {
			if i == 10 {
				fmt.Fprintf(w, "  … and %d more %s\n", len(row.items)-i, row.what)
				break
			}
			fmt.Fprintf(w, "  %s: %s\n", row.what, it)
		}
	}
	if a := r.Anomalies(); len(a) > 0 {
		fmt.Fprintf(w, "\nANOMALIES: %s\n", strings.Join(a, ", "))
	} else {
		fmt.Fprintln(w, "\nno anomaly: nothing lost or duplicated, no divergence, no fork or rollback, every lot linearizable")
	}
	return nil
}
