package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/traceledger/traceledger/api"
	"github.com/traceledger/traceledger/ledger"
)

// client talks to a node's HTTP API.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http(s) URL", base)
	}
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// do sends one request and returns the status, body and Retry-After.
func (c *client) do(ctx context.Context, method, path string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	var retry time.Duration
	if s, e := strconv.Atoi(resp.Header.Get("Retry-After")); e == nil && s > 0 {
		retry = time.Duration(s) * time.Second
	}
	return resp.StatusCode, b, retry, err
}

// getJSON fetches path into v; a non-200 answer becomes an error with the
// server's message.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	status, body, _, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s: %s", http.StatusText(status), serverMessage(body))
	}
	return json.Unmarshal(body, v)
}

func serverMessage(body []byte) string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return strings.TrimSpace(string(body))
}

// pending is an envelope read from a file, waiting to be sent.
type pending struct {
	file string
	env  json.RawMessage
	// index is the envelope's position in its file; rank and when order
	// the sending (see sendOrder).
	index int
	rank  int
	when  time.Time
}

// readEnvelopes reads files and directories (every *.json in them, sorted).
// A file holds one envelope, a JSON array of envelopes, or a batch
// {"records": [...]}.
func readEnvelopes(paths []string) ([]pending, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		for _, m := range matches {
			if !strings.HasSuffix(m, ".error.json") { // submit's own notes beside a refused file
				files = append(files, m)
			}
		}
	}
	var out []pending
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		data = bytes.TrimSpace(data)
		var batch struct {
			Records []json.RawMessage `json:"records"`
		}
		var list []json.RawMessage
		switch {
		case len(data) > 0 && data[0] == '[':
			if err := json.Unmarshal(data, &list); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
		case json.Unmarshal(data, &batch) == nil && batch.Records != nil:
			list = batch.Records
		case json.Valid(data):
			list = []json.RawMessage{data}
		default:
			return nil, fmt.Errorf("%s: not JSON", f)
		}
		for i, e := range list {
			p := pending{file: f, env: e, index: i}
			p.rank, p.when = sendOrder(e)
			out = append(out, p)
		}
	}
	return out, nil
}

// sendOrder places an envelope in the order submit sends in: participant
// registrations first, then harvests (which create the lots), then the
// rest; within each, by the record's time. What cannot be read goes last,
// for the ledger to refuse with its reason.
func sendOrder(env json.RawMessage) (rank int, when time.Time) {
	var e struct {
		Record struct {
			Type string `json:"type"`
			Time string `json:"time"`
		} `json:"record"`
	}
	if json.Unmarshal(env, &e) != nil {
		return 3, time.Time{}
	}
	when, err := ledger.ParseTime(e.Record.Time)
	if err != nil {
		return 3, time.Time{}
	}
	switch e.Record.Type {
	case "participant":
		return 0, when
	case "harvest":
		return 1, when
	}
	return 2, when
}

// sortForSending orders envelopes as sendOrder says; files and positions
// in files break ties, so that the order is the same on every run.
func sortForSending(envs []pending) {
	sort.SliceStable(envs, func(i, j int) bool {
		a, b := envs[i], envs[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.when.Before(b.when)
	})
}

// answered is an envelope and the ledger's last answer to it.
type answered struct {
	pending
	item api.BatchItem
}

// submitAll sends envelopes in dependency order. An envelope answered 404
// (a lot or participant the ledger does not know yet) is sent again after
// the others, as long as the previous round got some envelope accepted:
// its harvest or transfer may have been among them.
func (c *client) submitAll(ctx context.Context, envs []pending, batchSize int, maxWait time.Duration) ([]answered, error) {
	sortForSending(envs)
	out := make([]answered, len(envs))
	todo := make([]int, len(envs))
	for i := range envs {
		out[i].pending = envs[i]
		todo[i] = i
	}
	for len(todo) > 0 {
		part := make([]pending, len(todo))
		for k, i := range todo {
			part[k] = envs[i]
		}
		var retry []int
		progress := false
		sent := 0
		for _, b := range batches(part, batchSize, maxRequestBytes) {
			items, err := c.sendBatch(ctx, b, maxWait)
			if err != nil {
				return nil, err
			}
			for k, it := range items {
				i := todo[sent+k]
				out[i].item = it
				switch {
				case it.Status == http.StatusNotFound:
					retry = append(retry, i)
				case it.Status == http.StatusCreated:
					progress = true
				}
			}
			sent += len(b)
		}
		if !progress || len(retry) == 0 {
			break
		}
		fmt.Fprintf(os.Stderr, "traceledger submit: %d envelope(s) named a lot or participant the ledger did not know yet; sending them again\n", len(retry))
		todo = retry
	}
	return out, nil
}

func runSubmit(ctx context.Context, args []string) error {
	fs := newFlags("submit")
	base := fs.String("url", defaultURL(), "node URL (any member)")
	batchSize := fs.Int("batch", 100, "envelopes per request (1–1000)")
	maxWait := fs.Duration("max-wait", 30*time.Minute, "give up retrying after this long without an answer")
	doneDir := fs.String("done", "", "move files whose envelopes were all accepted into this directory")
	rejectedDir := fs.String("rejected", "", "move files with a refused envelope into this directory, with the ledger's answers beside each in FILE.error.json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("name envelope files or directories to submit")
	}
	if *batchSize < 1 || *batchSize > 1000 {
		return errors.New("--batch must be 1–1000")
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	envs, err := readEnvelopes(fs.Args())
	if err != nil {
		return err
	}
	results, err := c.submitAll(ctx, envs, *batchSize, *maxWait)
	if err != nil {
		return err
	}
	rejectedFiles := map[string]bool{}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tSTATUS\tSEQ\tDETAIL")
	for _, r := range results {
		it := r.item
		detail, seq := "", ""
		switch {
		case it.Error != nil:
			detail = it.Error.Code + ": " + it.Error.Message
			rejectedFiles[r.file] = true
		case it.Accepted != nil:
			seq = strconv.FormatUint(it.Seq, 10)
			detail = "accepted"
			if it.Status == http.StatusOK {
				detail = "already in the ledger"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.file, it.Status, seq, detail)
	}
	tw.Flush()
	if *doneDir != "" {
		if err := moveFiles(results, *doneDir, func(f string) bool { return !rejectedFiles[f] }, nil); err != nil {
			return err
		}
	}
	if *rejectedDir != "" {
		if err := moveFiles(results, *rejectedDir, func(f string) bool { return rejectedFiles[f] }, writeAnswers); err != nil {
			return err
		}
	}
	if len(rejectedFiles) > 0 {
		return exitError(1)
	}
	return nil
}

// moveFiles moves every file of results that keep selects into dir, once,
// and calls note (when not nil) with its new path and its envelopes'
// answers.
func moveFiles(results []answered, dir string, keep func(string) bool, note func(string, []answered) error) error {
	byFile := map[string][]answered{}
	var order []string
	for _, r := range results {
		if !keep(r.file) {
			continue
		}
		if _, ok := byFile[r.file]; !ok {
			order = append(order, r.file)
		}
		byFile[r.file] = append(byFile[r.file], r)
	}
	if len(order) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range order {
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.Rename(f, dst); err != nil {
			return err
		}
		if note != nil {
			if err := note(dst, byFile[f]); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileAnswers is what FILE.error.json holds: the ledger's answer to each
// envelope of FILE, by its position in the file.
type fileAnswers struct {
	File    string       `json:"file"`
	Answers []fileAnswer `json:"answers"`
}

type fileAnswer struct {
	Index int `json:"index"`
	api.BatchItem
}

// writeAnswers writes the answers to a moved file's envelopes beside it.
func writeAnswers(path string, rs []answered) error {
	sort.Slice(rs, func(i, j int) bool { return rs[i].index < rs[j].index })
	fa := fileAnswers{File: filepath.Base(path)}
	for _, r := range rs {
		fa.Answers = append(fa.Answers, fileAnswer{Index: r.index, BatchItem: r.item})
	}
	b, err := json.MarshalIndent(fa, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(path, ".json")+".error.json", append(b, '\n'), 0o644)
}

// maxRequestBytes keeps a request under the server's 4 MiB body limit,
// with room for the batch's own brackets and commas.
const maxRequestBytes = 4<<20 - 64<<10

// batches splits envelopes into requests of at most n envelopes and
// maxBytes bytes each.
func batches(envs []pending, n, maxBytes int) [][]pending {
	var out [][]pending
	start, size := 0, 0
	for i, p := range envs {
		if i > start && (i-start >= n || size+len(p.env)+1 > maxBytes) {
			out = append(out, envs[start:i])
			start, size = i, 0
		}
		size += len(p.env) + 1
	}
	if start < len(envs) {
		out = append(out, envs[start:])
	}
	return out
}

// sendBatch posts envelopes until the ledger answers them. Network errors,
// 429 and 503 are retried with exponential backoff (honouring Retry-After):
// on a weak link a request may have been applied even though its answer
// was lost, and the retry is answered 200 with the original entry.
func (c *client) sendBatch(ctx context.Context, part []pending, maxWait time.Duration) ([]api.BatchItem, error) {
	raws := make([]json.RawMessage, len(part))
	for i, p := range part {
		raws[i] = p.env
	}
	body, err := json.Marshal(map[string]any{"records": raws})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(maxWait)
	delay := 500 * time.Millisecond
	for {
		status, resp, retryAfter, err := c.do(ctx, http.MethodPost, "/v1/records", body)
		switch {
		case err == nil && status == http.StatusOK:
			var ans api.BatchAnswer
			if err := json.Unmarshal(resp, &ans); err != nil || len(ans.Results) != len(part) {
				return nil, fmt.Errorf("unexpected answer from %s: %s", c.base, resp)
			}
			return ans.Results, nil
		case err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests && status < 500:
			// The whole request was refused (too large, not JSON…):
			// retrying would not help.
			return nil, fmt.Errorf("%s refused the request: %d %s", c.base, status, serverMessage(resp))
		}
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = fmt.Sprintf("%d %s", status, serverMessage(resp))
		}
		wait := max(delay, retryAfter)
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("no answer from %s within %s (last: %s); run the same command again later, it is safe", c.base, maxWait, why)
		}
		fmt.Fprintf(os.Stderr, "traceledger submit: %s; retrying in %s\n", why, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func runLot(ctx context.Context, args []string) error {
	fs := newFlags("lot")
	base := fs.String("url", defaultURL(), "node URL (any member)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: traceledger lot [--url URL] GTIN LOT")
	}
	c, err := newClient(*base)
	if err != nil {
		return err
	}
	var view ledger.LotView
	path := "/v1/lots/" + url.PathEscape(fs.Arg(0)) + "/" + url.PathEscape(fs.Arg(1))
	if err := c.getJSON(ctx, path, &view); err != nil {
		return err
	}
	names := map[string]string{}
	name := func(addr string) string {
		if addr == "" {
			return ""
		}
		if n, ok := names[addr]; ok {
			return n
		}
		var p api.ParticipantView
		n := addr[:10] + "…"
		if c.getJSON(ctx, "/v1/participants/"+addr, &p) == nil {
			n = p.Participant.Name
		}
		names[addr] = n
		return n
	}
	l := view.Lot
	fmt.Printf("%s  (GTIN %s, lot %s)\n", l.Product.Name, l.GTIN, l.Lot)
	fmt.Printf("status:   %s\n", l.Status)
	fmt.Printf("holder:   %s (%s)\n", name(l.Holder), l.Holder)
	if l.InTransitTo != "" {
		fmt.Printf("to:       %s (%s)\n", name(l.InTransitTo), l.InTransitTo)
	}
	fmt.Printf("quantity: %s\n", quantityLine(l.Quantity, l.Initial))
	for _, p := range l.Parents {
		fmt.Printf("made from: %s/%s\n", p.GTIN, p.Lot)
	}
	for _, ch := range l.Children {
		fmt.Printf("made into: %s/%s\n", ch.GTIN, ch.Lot)
	}
	if l.Recalled != nil {
		fmt.Printf("RECALLED by entry %d: %s\n", l.Recalled.Seq, l.Recalled.Reason)
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tWHEN\tWHAT\tBY\tDETAIL")
	for _, e := range view.Entries {
		rec, err := ledger.DecodeRecord(e.Record)
		if err != nil {
			fmt.Fprintf(tw, "%d\t\t%s\t%s\t(cannot decode: %v)\n", e.Seq, e.Type, name(e.Signer), err)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, rec.Time, e.Type, name(e.Signer), describe(rec, name))
	}
	return tw.Flush()
}

// quantityLine says what is left of a lot: "500 kg" while it is whole,
// "120 kg left of 500 kg" once some of it has gone into other lots.
func quantityLine(now, initial ledger.Quantity) string {
	q := amountWithUnit(now)
	a, okA := new(big.Rat).SetString(now.Amount.String())
	b, okB := new(big.Rat).SetString(initial.Amount.String())
	if initial.Amount == "" || (okA && okB && a.Cmp(b) == 0 && initial.Unit == now.Unit) {
		return q
	}
	return q + " left of " + amountWithUnit(initial)
}

// amountWithUnit reads "2000 pieces", "1 box", "500 kg": counted units
// (pieces, boxes, bottles …) take the plural, measures keep their symbol.
func amountWithUnit(q ledger.Quantity) string {
	sym := ledger.UnitSymbol(q.Unit)
	a, ok := new(big.Rat).SetString(q.Amount.String())
	if counted[sym] && !(ok && a.Cmp(big.NewRat(1, 1)) == 0) {
		switch {
		case strings.HasSuffix(sym, "x"), strings.HasSuffix(sym, "ch"):
			sym += "es"
		default:
			sym += "s"
		}
	}
	return q.Amount.String() + " " + sym
}

// counted are the unit symbols that name things one counts.
var counted = map[string]bool{
	"piece": true, "unit": true, "pair": true, "set": true, "box": true, "bottle": true, "bag": true,
	"carton": true, "jar": true, "sack": true, "package": true, "packet": true, "can": true, "tin": true,
	"barrel": true, "crate": true, "pallet": true, "tube": true, "vial": true, "jerrican": true,
	"basket": true, "pouch": true,
}

// describe summarises a record in a few words for the history table.
func describe(r *ledger.Record, name func(string) string) string {
	switch {
	case r.Harvest != nil:
		return fmt.Sprintf("%s at %s", amountWithUnit(r.Harvest.Quantity), r.Harvest.Place.Name)
	case r.Transfer != nil:
		return "to " + name(r.Transfer.To)
	case r.Receive != nil:
		return "received"
	case r.Transform != nil:
		var ins, outs []string
		for _, in := range r.Transform.Inputs {
			ins = append(ins, fmt.Sprintf("%s %s of %s", in.Quantity.Amount, ledger.UnitSymbol(in.Quantity.Unit), in.Lot.Lot))
		}
		for _, o := range r.Transform.Outputs {
			outs = append(outs, fmt.Sprintf("%s %s %s", o.Quantity.Amount, ledger.UnitSymbol(o.Quantity.Unit), o.Lot.Lot))
		}
		return strings.Join(ins, ", ") + " → " + strings.Join(outs, ", ")
	case r.Inspect != nil:
		s := r.Inspect.Result
		if c := r.Inspect.Certificate; c != nil {
			s += " · " + c.Scheme
			if c.Stars > 0 {
				s += fmt.Sprintf(" %d★", c.Stars)
			}
		}
		return s
	case r.Recall != nil:
		return "RECALL: " + r.Recall.Reason
	}
	return ""
}
