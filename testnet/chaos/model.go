package chaos

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The custody model: the sequential specification each lot's history is
// checked against (porcupine, https://github.com/anishathalye/porcupine).
// A lot's state is whether it exists, its holder, the recipient it is in
// transit to, what is left of it and the key of its latest record (what a
// record's "after" names). The rules are those of ledger/apply.go for the
// records the workload signs, checked in the same order, so that a refusal
// must not only be possible but name the code the ledger would name.

// lotState is a lot as the model sees it. It is a comparable value:
// porcupine's default equality (==) compares states.
type lotState struct {
	Exists  bool   `json:"exists"`
	Holder  string `json:"holder,omitempty"`  // lowercase 0x address
	Transit string `json:"transit,omitempty"` // recipient in transit; "" when none
	Qty     int64  `json:"qty,omitempty"`
	Head    string `json:"head,omitempty"` // key (signer/id) of the latest record naming the lot
}

// lotOp is what an operation does to one lot. A transform is two lot
// operations: take from its input lot and make its output lot.
type lotOp uint8

const (
	opHarvest lotOp = iota
	opTransfer
	opReceive
	opTake // a transform, seen from its input lot
	opMake // a transform, seen from its output lot
	opRead
)

var lotOpNames = [...]string{"harvest", "transfer", "receive", "take", "make", "read"}

func (o lotOp) String() string { return lotOpNames[o] }

// lotInput is a porcupine operation's input.
type lotInput struct {
	Op    lotOp
	Actor string // lowercase signer address
	To    string // transfer recipient
	Qty   int64  // harvest and make: the new lot's quantity; take: the amount taken
	After string // the head key the record's "after" names; "" without after
	Key   string // this record's key (signer/id)
}

// outcome is how an operation ended, as the client saw it (resolved
// against the final log for unknown outcomes, see check.go).
type outcome uint8

const (
	outAcked   outcome = iota // 201 or 200: applied
	outRefused                // 403, 404 or 409: not applied, with a code
	outUnknown                // no answer: applied or not
	outRead                   // a linearizable read's answer
)

// lotOutput is a porcupine operation's output.
type lotOutput struct {
	Outcome outcome
	Code    string   // refusal code
	Read    lotState // what a read saw
}

// verdict returns the code the ledger refuses in with on state s, or ""
// when the operation is allowed: the checks of ledger/apply.go, in order.
func verdict(s lotState, in lotInput) string {
	switch in.Op {
	case opHarvest, opMake:
		if s.Exists {
			return "lot_exists"
		}
		return ""
	}
	if !s.Exists {
		return "unknown_lot"
	}
	stale := in.After != "" && in.After != s.Head
	switch in.Op {
	case opTransfer:
		switch {
		case s.Holder != in.Actor:
			return "not_holder"
		case s.Transit != "":
			return "double_transfer"
		case s.Qty == 0:
			return "lot_consumed"
		case stale:
			return "stale"
		}
	case opReceive:
		switch {
		case s.Transit != in.Actor:
			return "not_recipient"
		case stale:
			return "stale"
		}
	case opTake:
		switch {
		case s.Holder != in.Actor:
			return "not_holder"
		case s.Transit != "":
			return "lot_in_transit"
		case s.Qty == 0:
			return "lot_consumed"
		case in.Qty > s.Qty:
			return "insufficient_quantity"
		}
	}
	return ""
}

// apply returns the state after an allowed operation.
func apply(s lotState, in lotInput) lotState {
	switch in.Op {
	case opHarvest, opMake:
		return lotState{Exists: true, Holder: in.Actor, Qty: in.Qty, Head: in.Key}
	case opTransfer:
		s.Transit = in.To
	case opReceive:
		s.Holder, s.Transit = in.Actor, ""
	case opTake:
		s.Qty -= in.Qty
	}
	s.Head = in.Key
	return s
}

// step is the model's transition: whether the operation could have
// returned out on state s, and the state after it.
//
// An operation whose outcome stays unknown may or may not have happened.
// It is given an infinite return time and stepped as "applied if
// allowed, else nothing": when it did not happen, linearizing it after
// every operation with a known outcome changes nothing any of them saw,
// so this deterministic step accepts exactly the histories in which some
// choice of happened or not is linearizable.
func step(s lotState, in lotInput, out lotOutput) (bool, lotState) {
	if in.Op == opRead {
		return out.Read == s, s
	}
	v := verdict(s, in)
	switch out.Outcome {
	case outAcked:
		if v != "" {
			return false, s
		}
		return true, apply(s, in)
	case outRefused:
		switch {
		case in.Op == opTake && out.Code == "lot_exists":
			// The output lot existed; the input checks, made first, passed.
			return v == "", s
		case in.Op == opMake && out.Code != "lot_exists":
			// Refused for its input lot, before the output was looked at.
			return true, s
		}
		return v == out.Code, s
	default:
		if v != "" {
			return true, s
		}
		return true, apply(s, in)
	}
}

// custodyModel is the porcupine model of one lot's history.
var custodyModel = porcupine.Model{
	Init: func() any { return lotState{} },
	Step: func(state, input, output any) (bool, any) {
		return step(state.(lotState), input.(lotInput), output.(lotOutput))
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(lotInput), output.(lotOutput)
		if out.Outcome == outRead {
			return fmt.Sprintf("read → %+v", out.Read)
		}
		what := fmt.Sprintf("%s %s by %s", in.Op, in.Key[strings.IndexByte(in.Key, '/')+1:], short(in.Actor))
		if in.To != "" {
			what += " to " + short(in.To)
		}
		if in.After != "" {
			what += " after " + in.After[strings.IndexByte(in.After, '/')+1:]
		}
		switch out.Outcome {
		case outAcked:
			return what + " → applied"
		case outRefused:
			return what + " → " + out.Code
		}
		return what + " → unknown"
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%+v", state.(lotState)) },
}

// short abbreviates an address for descriptions.
func short(addr string) string {
	if len(addr) > 10 {
		return addr[:10]
	}
	return addr
}
