package ledger

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Command is the payload of one Raft log entry: a group of admitted
// envelopes the leader committed together, or the genesis of a ledger.
//
// Time is stamped once by the leader when it proposes the command; every
// node applies the same value, so Apply never reads a clock.
//
// Binary form, version 1 (a new form takes a new kind byte):
//
//	kind:1 (CmdRecords or CmdGenesis, see payload.go) ‖ unix-nanos:8 (big-endian)
//	records: count:uvarint ‖ count × (len:uvarint ‖ canonical ‖ signature:65 ‖ signer:20)
//	genesis: count:uvarint ‖ count × address:20
type Command struct {
	Kind      byte
	Time      time.Time
	Envelopes []*Admitted
	Admins    []common.Address
}

// EncodeCommand returns the binary form of c.
func EncodeCommand(c *Command) []byte {
	n := 9 + binary.MaxVarintLen64
	for _, e := range c.Envelopes {
		n += binary.MaxVarintLen64 + len(e.Canonical) + SignatureLen + common.AddressLength
	}
	n += len(c.Admins) * common.AddressLength
	b := make([]byte, 0, n)
	b = append(b, c.Kind)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time.UnixNano()))
	switch c.Kind {
	case CmdRecords:
		b = binary.AppendUvarint(b, uint64(len(c.Envelopes)))
		for _, e := range c.Envelopes {
			b = binary.AppendUvarint(b, uint64(len(e.Canonical)))
			b = append(b, e.Canonical...)
			b = append(b, e.Signature...)
			b = append(b, e.Signer[:]...)
		}
	case CmdGenesis:
		b = binary.AppendUvarint(b, uint64(len(c.Admins)))
		for _, a := range c.Admins {
			b = append(b, a[:]...)
		}
	}
	return b
}

// DecodeCommand parses what EncodeCommand wrote. Records are not decoded
// here; Apply decodes each one. Any kind but CmdRecords and CmdGenesis is
// refused, the consensus layer's kinds included.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) < 9 {
		return nil, fmt.Errorf("decode command: %d bytes", len(b))
	}
	if !isCommandKind(b[0]) {
		return nil, fmt.Errorf("decode command: kind %s is not a ledger command", KindName(b[0]))
	}
	c := &Command{Kind: b[0], Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()}
	b = b[9:]
	count, k := uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("decode command: bad count")
	}
	b = b[k:]
	switch c.Kind {
	case CmdRecords:
		c.Envelopes = make([]*Admitted, 0, count)
		for i := uint64(0); i < count; i++ {
			l, k := uvarint(b)
			if k <= 0 || uint64(len(b)-k) < SignatureLen+common.AddressLength || l > uint64(len(b)-k)-SignatureLen-common.AddressLength {
				return nil, fmt.Errorf("decode command: envelope %d truncated", i)
			}
			b = b[k:]
			e := &Admitted{Canonical: b[:l], Signature: b[l : l+SignatureLen]}
			copy(e.Signer[:], b[l+SignatureLen:])
			b = b[l+SignatureLen+common.AddressLength:]
			c.Envelopes = append(c.Envelopes, e)
		}
	case CmdGenesis:
		if uint64(len(b)) != count*common.AddressLength {
			return nil, fmt.Errorf("decode command: genesis truncated")
		}
		for i := uint64(0); i < count; i++ {
			c.Admins = append(c.Admins, common.BytesToAddress(b[i*20:(i+1)*20]))
		}
		b = nil
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("decode command: %d trailing bytes", len(b))
	}
	return c, nil
}

// uvarint reads a minimally encoded uvarint: one value has one encoding, so
// a command decodes and re-encodes to the same bytes.
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, k
}
