package chaos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
	"github.com/traceledger/traceledger/ledger/demo"
)

// gtin is the trade item every lot of the workload is a lot of.
const gtin = "08936000000127"

// Timing of a client's requests: one attempt, and one operation with its
// resends, before the outcome is left unknown.
const (
	attemptTimeout = 1500 * time.Millisecond
	opTimeout      = 8 * time.Second
)

// op is one client operation and how it ended: the history the checker
// reads. Times are since the start of the workload.
type op struct {
	Client int
	Kind   string // harvest, transfer, receive, transform, read
	Lot    string // the lot acted on (a transform's input)
	Output string // a transform's output lot
	In     lotInput
	Env    *ledger.Envelope // nil for reads
	Call   time.Duration
	Return time.Duration
	Out    lotOutput
	Seq    uint64 // the acknowledged entry
	// resolved is what the final log says of an unknown outcome.
	resolved resolution
}

// resolution is what the final log tells of an operation whose outcome
// the client never learned.
type resolution uint8

const (
	unresolved         resolution = iota
	resolvedApplied               // its record is in the log
	resolvedNotApplied            // its record is not in the log
)

// key names a record as the ledger's idempotency does: signer and id.
func key(signer, id string) string { return strings.ToLower(signer) + "/" + id }

// belief is what clients last learned of a lot; it steers which
// operations they try (mostly allowed ones, some refused), never what
// the checker expects.
type belief struct {
	holder, transit string
	head, digest    string // key and RecordDigest of the latest record
	qty             int64
}

// workload is the clients' shared state. Each client goroutine owns its
// own random source; mu guards the rest.
type workload struct {
	urls   []string
	actors []*ecdsa.PrivateKey
	addrs  []string // lowercase, as the model compares them
	start  time.Time
	http   *http.Client
	ids    atomic.Int64 // record ids

	mu      sync.Mutex
	lots    []string // lot codes, newest last
	beliefs map[string]*belief
	history []*op
	next    int // lot code counter
}

// actorKeys derives the workload's signing keys from the seed, so that a
// replayed run signs with the same participants.
func actorKeys(seed uint64, n int) ([]*ecdsa.PrivateKey, error) {
	var keys []*ecdsa.PrivateKey
	for i := 0; i < n; i++ {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], seed)
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		d := sha256.Sum256(append([]byte("traceledger chaos actor "), b[:]...))
		k, err := crypto.ToECDSA(d[:])
		if err != nil {
			return nil, fmt.Errorf("actor key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func newWorkload(urls []string, actors []*ecdsa.PrivateKey) *workload {
	w := &workload{urls: urls, actors: actors, beliefs: map[string]*belief{},
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}}
	for _, k := range actors {
		w.addrs = append(w.addrs, strings.ToLower(ledger.AddressOf(k).Hex()))
	}
	return w
}

// register signs up every actor as producer, processor and distributor,
// with the admin's key, retrying until each is acknowledged.
func (w *workload) register(ctx context.Context, admin *ecdsa.PrivateKey) error {
	for i, k := range w.actors {
		env, err := demo.SignRecord(admin, map[string]any{"type": "participant", "id": "chaos-" + w.addrs[i][2:18],
			"time": "2026-06-01T07:00:00+07:00", "signer": ledger.AddressOf(admin).Hex(), "address": ledger.AddressOf(k).Hex(),
			"name": fmt.Sprintf("HTX thử hỗn loạn %d", i), "roles": []string{"producer", "processor", "distributor"}})
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(uint64(i), 0))
		deadline := time.Now().Add(time.Minute)
		for {
			status, ans := w.post(ctx, w.urls[rng.IntN(len(w.urls))], env)
			if status == http.StatusCreated || status == http.StatusOK {
				break
			}
			if status/100 == 4 && status != http.StatusTooManyRequests {
				return fmt.Errorf("register actor %d: %d %s", i, status, ans.Error.Code)
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("register actor %d: no acknowledgement within a minute (last status %d)", i, status)
			}
			select { // backoff between resends
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// run drives one client until ctx ends.
func (w *workload) run(ctx context.Context, client int, rng *rand.Rand) {
	for ctx.Err() == nil {
		w.mu.Lock()
		empty := len(w.lots) == 0
		w.mu.Unlock()
		r := rng.Float64()
		switch {
		case empty || r < 0.15:
			w.harvest(ctx, client, rng)
		case r < 0.35:
			w.read(ctx, client, rng)
		case r < 0.60:
			w.transfer(ctx, client, rng)
		case r < 0.85:
			w.receive(ctx, client, rng)
		default:
			w.transform(ctx, client, rng)
		}
	}
}

// hotLots is how many of the newest lots clients act on: few enough that
// they contend.
const hotLots = 12

// hotLot picks one of the newest lots, mostly one that clients believe
// fit (prefer; nil: any), so that most operations could succeed and
// some are refused.
func (w *workload) hotLot(rng *rand.Rand, prefer func(belief) bool) (string, belief) {
	w.mu.Lock()
	defer w.mu.Unlock()
	hot := w.lots[len(w.lots)-min(len(w.lots), hotLots):]
	if prefer != nil && rng.IntN(8) > 0 {
		var fit []string
		for _, lot := range hot {
			if prefer(*w.beliefs[lot]) {
				fit = append(fit, lot)
			}
		}
		if len(fit) > 0 {
			hot = fit
		}
	}
	lot := hot[rng.IntN(len(hot))]
	return lot, *w.beliefs[lot]
}

// movable: a lot its holder can transfer or transform.
func movable(b belief) bool { return b.transit == "" && b.qty > 0 }

// inTransit: a lot its recipient can receive.
func inTransit(b belief) bool { return b.transit != "" }

// newLot reserves a fresh lot code.
func (w *workload) newLot() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	return "CH" + strconv.FormatInt(int64(w.next), 36)
}

func (w *workload) actor(rng *rand.Rand) int { return rng.IntN(len(w.actors)) }

// actorOf returns the index of the actor at addr, or a random one.
func (w *workload) actorOf(addr string, rng *rand.Rand) int {
	for i, a := range w.addrs {
		if a == addr {
			return i
		}
	}
	return w.actor(rng)
}

func (w *workload) harvest(ctx context.Context, client int, rng *rand.Rand) {
	lot := ""
	w.mu.Lock()
	if len(w.lots) > 0 && rng.IntN(10) == 0 {
		lot = w.lots[len(w.lots)-1-rng.IntN(min(len(w.lots), hotLots))] // a harvest of a lot that exists: lot_exists
	}
	w.mu.Unlock()
	if lot == "" {
		lot = w.newLot()
	}
	a := w.actor(rng)
	o := &op{Client: client, Kind: "harvest", Lot: lot, In: lotInput{Op: opHarvest, Actor: w.addrs[a], Qty: 40}}
	w.write(ctx, o, a, map[string]any{"type": "harvest", "lot": lotRef(lot),
		"product": map[string]string{"name": "Vải thiều Lục Ngạn"}, "quantity": map[string]any{"amount": 40, "unit": "KGM"},
		"place": map[string]string{"name": "Phì Điền, Lục Ngạn, Bắc Giang"}})
}

func (w *workload) transfer(ctx context.Context, client int, rng *rand.Rand) {
	lot, b := w.hotLot(rng, movable)
	a := w.actorOf(b.holder, rng)
	if rng.IntN(8) == 0 {
		a = w.actor(rng)
	}
	to := (a + 1 + rng.IntN(len(w.actors)-1)) % len(w.actors)
	o := &op{Client: client, Kind: "transfer", Lot: lot, In: lotInput{Op: opTransfer, Actor: w.addrs[a], To: w.addrs[to]}}
	rec := map[string]any{"type": "transfer", "lot": lotRef(lot), "to": ledger.AddressOf(w.actors[to]).Hex()}
	if b.digest != "" && rng.IntN(10) < 7 {
		rec["after"], o.In.After = b.digest, b.head
	}
	w.write(ctx, o, a, rec)
}

func (w *workload) receive(ctx context.Context, client int, rng *rand.Rand) {
	lot, b := w.hotLot(rng, inTransit)
	a := w.actorOf(b.transit, rng)
	if b.transit == "" || rng.IntN(8) == 0 {
		a = w.actor(rng)
	}
	o := &op{Client: client, Kind: "receive", Lot: lot, In: lotInput{Op: opReceive, Actor: w.addrs[a]}}
	rec := map[string]any{"type": "receive", "lot": lotRef(lot)}
	if b.digest != "" && rng.IntN(2) == 0 {
		rec["after"], o.In.After = b.digest, b.head
	}
	w.write(ctx, o, a, rec)
}

func (w *workload) transform(ctx context.Context, client int, rng *rand.Rand) {
	lot, b := w.hotLot(rng, movable)
	a := w.actorOf(b.holder, rng)
	out := w.newLot()
	take := int64(1 + rng.IntN(3))
	o := &op{Client: client, Kind: "transform", Lot: lot, Output: out, In: lotInput{Op: opTake, Actor: w.addrs[a], Qty: take}}
	q := map[string]any{"amount": take, "unit": "KGM"}
	w.write(ctx, o, a, map[string]any{"type": "transform", "process": "sấy khô",
		"inputs":  []any{map[string]any{"lot": lotRef(lot), "quantity": q}},
		"outputs": []any{map[string]any{"lot": lotRef(out), "product": map[string]string{"name": "Vải sấy Lục Ngạn"}, "quantity": q}}})
}

func lotRef(lot string) map[string]string { return map[string]string{"gtin": gtin, "lot": lot} }

// write signs rec as actor a, sends it until a node answers definitely,
// and records the operation.
func (w *workload) write(ctx context.Context, o *op, a int, rec map[string]any) {
	k := w.actors[a]
	id := fmt.Sprintf("c%d-%d", o.Client, w.ids.Add(1))
	rec["id"], rec["signer"], rec["time"] = id, ledger.AddressOf(k).Hex(), "2026-06-02T08:00:00+07:00"
	env, err := demo.SignRecord(k, rec)
	if err != nil {
		panic(fmt.Sprintf("chaos: a workload record does not sign: %v", err)) // our own records are always valid
	}
	o.Env, o.In.Key = &env, key(ledger.AddressOf(k).Hex(), id)
	o.Call = time.Since(w.start)
	o.Out.Outcome = outUnknown
	rng := rand.New(rand.NewPCG(uint64(o.Call), uint64(a)))
	deadline := time.Now().Add(opTimeout)
	delay := 20 * time.Millisecond
	for ctx.Err() == nil && time.Now().Before(deadline) {
		status, ans := w.post(ctx, w.urls[rng.IntN(len(w.urls))], env)
		switch {
		case status == http.StatusCreated || status == http.StatusOK:
			o.Out.Outcome, o.Seq = outAcked, ans.Seq
		case status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusConflict ||
			status == http.StatusBadRequest || status == http.StatusUnauthorized:
			o.Out.Outcome, o.Out.Code = outRefused, ans.Error.Code
		default: // 0 (no answer), 429, 503 or another 5xx: resend the identical envelope
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			delay = min(delay*2, 200*time.Millisecond)
			continue
		}
		break
	}
	o.Return = time.Since(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = append(w.history, o)
	if o.Out.Outcome != outAcked {
		return
	}
	digest := ledger.RecordDigest(env.Record)
	switch o.Kind {
	case "harvest":
		if w.beliefs[o.Lot] == nil {
			w.lots = append(w.lots, o.Lot)
		}
		w.beliefs[o.Lot] = &belief{holder: o.In.Actor, qty: o.In.Qty, head: o.In.Key, digest: digest}
	case "transform":
		w.lots = append(w.lots, o.Output)
		w.beliefs[o.Output] = &belief{holder: o.In.Actor, qty: o.In.Qty, head: o.In.Key, digest: digest}
		b := w.beliefs[o.Lot]
		b.qty, b.head, b.digest = b.qty-o.In.Qty, o.In.Key, digest
	case "transfer":
		b := w.beliefs[o.Lot]
		b.transit, b.head, b.digest = o.In.To, o.In.Key, digest
	case "receive":
		b := w.beliefs[o.Lot]
		b.holder, b.transit, b.head, b.digest = o.In.Actor, "", o.In.Key, digest
	}
}

// answer is the body of an answer to POST /v1/records.
type answer struct {
	Seq   uint64 `json:"seq"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// post sends one envelope to one node; status 0 means no answer.
func (w *workload) post(ctx context.Context, base string, env ledger.Envelope) (int, answer) {
	var ans answer
	body, _ := json.Marshal(env)
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/records", bytes.NewReader(body))
	if err != nil {
		return 0, ans
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, ans
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, ans
	}
	json.Unmarshal(b, &ans)
	return resp.StatusCode, ans
}

// lotAnswer is the part of GET /v1/lots/{gtin}/{lot} a read uses.
type lotAnswer struct {
	Lot *struct {
		Holder      string          `json:"holder"`
		InTransitTo string          `json:"in_transit_to"`
		Quantity    ledger.Quantity `json:"quantity"`
		UpdatedSeq  uint64          `json:"updated_seq"`
	} `json:"lot"`
	Entries []struct {
		Signer string          `json:"signer"`
		Record json.RawMessage `json:"record"`
	} `json:"entries"`
	Next  *uint64 `json:"next"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

// read makes one linearizable read of a hot lot through a random node. A
// read that gets no answer tells nothing and is not recorded.
func (w *workload) read(ctx context.Context, client int, rng *rand.Rand) {
	lot, _ := w.hotLot(rng, nil)
	base := w.urls[rng.IntN(len(w.urls))]
	o := &op{Client: client, Kind: "read", Lot: lot, In: lotInput{Op: opRead}, Out: lotOutput{Outcome: outRead}}
	o.Call = time.Since(w.start)
	status, ans := w.getLot(ctx, base, lot, 0)
	if status == http.StatusOK && ans.Next != nil && ans.Lot != nil {
		// More entries than a page: read from the latest one on. A
		// second linearizable read, and the one recorded.
		status, ans = w.getLot(ctx, base, lot, ans.Lot.UpdatedSeq)
	}
	o.Return = time.Since(w.start)
	switch {
	case status == http.StatusNotFound && ans.Error.Code == "unknown_lot":
	case status == http.StatusOK && ans.Lot != nil && len(ans.Entries) > 0:
		qty, err := strconv.ParseInt(string(ans.Lot.Quantity.Amount), 10, 64)
		if err != nil {
			return
		}
		last := ans.Entries[len(ans.Entries)-1]
		var hdr ledger.Header
		if json.Unmarshal(last.Record, &hdr) != nil {
			return
		}
		o.Out.Read = lotState{Exists: true, Holder: strings.ToLower(ans.Lot.Holder), Transit: strings.ToLower(ans.Lot.InTransitTo),
			Qty: qty, Head: key(last.Signer, hdr.ID)}
		w.mu.Lock()
		if b := w.beliefs[lot]; b != nil {
			*b = belief{holder: o.Out.Read.Holder, transit: o.Out.Read.Transit, qty: qty,
				head: o.Out.Read.Head, digest: ledger.RecordDigest(last.Record)}
		}
		w.mu.Unlock()
	default:
		return
	}
	w.mu.Lock()
	w.history = append(w.history, o)
	w.mu.Unlock()
}

func (w *workload) getLot(ctx context.Context, base, lot string, from uint64) (int, lotAnswer) {
	var ans lotAnswer
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	u := fmt.Sprintf("%s/v1/lots/%s/%s?consistency=linearizable", base, gtin, url.PathEscape(lot))
	if from > 0 {
		u += fmt.Sprintf("&from=%d", from)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, ans
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, ans
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&ans); err != nil {
		return 0, ans
	}
	return resp.StatusCode, ans
}

// snapshot returns the history so far.
func (w *workload) snapshot() []*op {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*op(nil), w.history...)
}
