package chaos

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

const (
	alice = "0xaaaa"
	bob   = "0xbbbb"
	carol = "0xcccc"
)

// w builds a write operation on one lot.
func w(call, ret int64, in lotInput, out outcome, code string) porcupine.Operation {
	if ret < 0 {
		ret = math.MaxInt64
	}
	return porcupine.Operation{Input: in, Call: call, Return: ret, Output: lotOutput{Outcome: out, Code: code}}
}

// rd builds a read that saw s.
func rd(call, ret int64, s lotState) porcupine.Operation {
	return porcupine.Operation{Input: lotInput{Op: opRead}, Call: call, Return: ret, Output: lotOutput{Outcome: outRead, Read: s}}
}

var (
	harvestA       = lotInput{Op: opHarvest, Actor: alice, Qty: 40, Key: "a/h"}
	toBob          = lotInput{Op: opTransfer, Actor: alice, To: bob, Key: "a/t1"}
	toCarol        = lotInput{Op: opTransfer, Actor: alice, To: carol, Key: "a/t2"}
	bobGets        = lotInput{Op: opReceive, Actor: bob, Key: "b/r"}
	inTransitToBob = lotState{Exists: true, Holder: alice, Transit: bob, Qty: 40, Head: "a/t1"}
	atBob          = lotState{Exists: true, Holder: bob, Qty: 40, Head: "b/r"}
	harvested      = lotState{Exists: true, Holder: alice, Qty: 40, Head: "a/h"}
)

func TestCustodyModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"hand-over", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), rd(40, 50, inTransitToBob),
			w(60, 70, bobGets, outAcked, ""), rd(80, 90, atBob)}, porcupine.Ok},
		{"racing transfers, one wins", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 40, toBob, outAcked, ""), w(21, 41, toCarol, outRefused, "double_transfer"),
			rd(50, 60, inTransitToBob)}, porcupine.Ok},
		{"racing transfers, both win", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 40, toBob, outAcked, ""), w(21, 41, toCarol, outAcked, "")}, porcupine.Illegal},
		{"a read that misses an acknowledged transfer", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), rd(40, 50, harvested)}, porcupine.Illegal},
		{"a read concurrent with the transfer may miss it", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), rd(25, 50, harvested)}, porcupine.Ok},
		{"a refusal the state does not explain", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outRefused, "not_holder")}, porcupine.Illegal},
		{"a refusal with another code than the ledger's", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), w(40, 50, toCarol, outRefused, "stale")}, porcupine.Illegal},
		{"a receive by someone else", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""),
			w(40, 50, lotInput{Op: opReceive, Actor: carol, Key: "c/r"}, outAcked, "")}, porcupine.Illegal},
		{"stale after", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), w(40, 50, bobGets, outAcked, ""),
			w(60, 70, lotInput{Op: opTransfer, Actor: bob, To: carol, After: "a/t1", Key: "b/t"}, outAcked, "")}, porcupine.Illegal},
		{"stale after, refused", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, toBob, outAcked, ""), w(40, 50, bobGets, outAcked, ""),
			w(60, 70, lotInput{Op: opTransfer, Actor: bob, To: carol, After: "a/t1", Key: "b/t"}, outRefused, "stale")}, porcupine.Ok},
		{"an unknown transfer seen later", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, -1, toBob, outUnknown, ""), rd(100, 110, inTransitToBob)}, porcupine.Ok},
		{"an unknown transfer never seen", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, -1, toBob, outUnknown, ""), rd(100, 110, harvested)}, porcupine.Ok},
		{"an unknown transfer seen, then undone", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, -1, toBob, outUnknown, ""), rd(100, 110, inTransitToBob), rd(120, 130, harvested)}, porcupine.Illegal},
		{"a take beyond what is left", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, lotInput{Op: opTake, Actor: alice, Qty: 41, Key: "a/x"}, outAcked, "")}, porcupine.Illegal},
		{"takes and what is left", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, lotInput{Op: opTake, Actor: alice, Qty: 3, Key: "a/x"}, outAcked, ""),
			rd(40, 50, lotState{Exists: true, Holder: alice, Qty: 37, Head: "a/x"})}, porcupine.Ok},
		{"a transform refused for its input says nothing of its output", []porcupine.Operation{
			w(20, 30, lotInput{Op: opMake, Actor: bob, Qty: 3, Key: "b/x"}, outRefused, "not_holder"),
			rd(40, 50, lotState{})}, porcupine.Ok},
		{"a second harvest of one lot", []porcupine.Operation{
			w(0, 10, harvestA, outAcked, ""), w(20, 30, lotInput{Op: opHarvest, Actor: bob, Qty: 40, Key: "b/h"}, outAcked, "")}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(custodyModel, tc.ops, 0); got != tc.want {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
