package ledger

import (
	"crypto/ecdsa"
	"encoding/hex"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SignatureLen is the length of an EIP-191 personal_sign signature: r‖s‖v.
const SignatureLen = 65

// Sign signs msg the way an Ethereum wallet's personal_sign does (EIP-191
// version 0x45): secp256k1 over
//
//	keccak256("\x19Ethereum Signed Message:\n" + decimal(len(msg)) + msg)
//
// and returns r‖s‖v with v ∈ {27, 28}, as wallets return it. The signature
// is deterministic (RFC 6979) and low-S.
func Sign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	sig, err := crypto.Sign(accounts.TextHash(msg), key)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	return sig, nil
}

// Recover returns the address whose key produced sig over msg with Sign. It
// accepts v as 27/28 (wallets) or 0/1 (some libraries) and rejects a high-S
// signature: every ECDSA signature has a twin (r, n−s) that verifies too, and
// accepting both would let anyone mint a second, different-looking envelope
// for the same record (EIP-2).
func Recover(msg, sig []byte) (common.Address, error) {
	if len(sig) != SignatureLen {
		return common.Address{}, ErrBadSignature.Detail("signature is %d bytes, want %d", len(sig), SignatureLen)
	}
	s := make([]byte, SignatureLen)
	copy(s, sig)
	if s[64] >= 27 {
		s[64] -= 27
	}
	if s[64] > 1 {
		return common.Address{}, ErrBadSignature.Detail("recovery id v=%d, want 27, 28, 0 or 1", sig[64])
	}
	r, sv := new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:64])
	if !crypto.ValidateSignatureValues(s[64], r, sv, true) {
		return common.Address{}, ErrBadSignature.Detail("r or s out of range, or s in the upper half of the curve order (high-S)")
	}
	pub, err := crypto.SigToPub(accounts.TextHash(msg), s)
	if err != nil {
		return common.Address{}, ErrBadSignature.Detail("cannot recover a public key: %v", err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// ParseSignature decodes a 0x-prefixed hex signature.
func ParseSignature(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
		return nil, ErrBadSignature.Detail("signature must be 0x-prefixed hex")
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, ErrBadSignature.Detail("signature is not hex")
	}
	if len(b) != SignatureLen {
		return nil, ErrBadSignature.Detail("signature is %d bytes, want %d", len(b), SignatureLen)
	}
	return b, nil
}

// ParseAddress parses a 0x-prefixed 20-byte hex address. An address in mixed
// case must carry a valid EIP-55 checksum: a typo in a hand-copied address
// is caught instead of sending a lot to nobody.
func ParseAddress(s string) (common.Address, error) {
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return common.Address{}, ErrInvalidAddr.Detail("%q is not a 0x-prefixed 20-byte hex address", s)
	}
	// Every record names its signer, so this runs for each one admitted:
	// it decodes and notes the case in one pass without allocating, and
	// only an address in mixed case pays for the checksum's keccak.
	var a common.Address
	lower, upper := false, false
	for i := range a {
		hi, ok1 := hexNibble(s[2+2*i], &lower, &upper)
		lo, ok2 := hexNibble(s[3+2*i], &lower, &upper)
		if !ok1 || !ok2 {
			return common.Address{}, ErrInvalidAddr.Detail("%q is not hex", s)
		}
		a[i] = hi<<4 | lo
	}
	if lower && upper && a.Hex()[2:] != s[2:] {
		return common.Address{}, ErrInvalidAddr.Detail("%q has a wrong EIP-55 checksum", s)
	}
	return a, nil
}

// hexNibble returns the value of the hex digit c, and notes whether it is
// a lower- or upper-case letter.
func hexNibble(c byte, lower, upper *bool) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		*lower = true
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		*upper = true
		return c - 'A' + 10, true
	}
	return 0, false
}

// checksumHex returns a's EIP-55 form, which is named when named is a's
// address in that form already: a record's signer, which DecodeRecord
// checked with ParseAddress, usually is. It saves the state machine's
// goroutine a keccak per envelope, and allocates nothing when it can.
func checksumHex(a common.Address, named string) string {
	const digits = "0123456789abcdef"
	if len(named) != 2+2*common.AddressLength || named[:2] != "0x" {
		return a.Hex()
	}
	lower, upper := false, false
	for i, b := range a {
		for j, want := range [2]byte{digits[b>>4], digits[b&15]} {
			c := named[2+2*i+j]
			lower = lower || 'a' <= c && c <= 'f'
			upper = upper || 'A' <= c && c <= 'F'
			if c|0x20 != want { // ASCII: 'A'|0x20 is 'a'; digits keep their value
				return a.Hex()
			}
		}
	}
	if lower != upper { // one case only: no checksum in it
		return a.Hex()
	}
	return named // mixed case, which ParseAddress checked, or digits only
}

// AddressOf returns the Ethereum address of a private key.
func AddressOf(k *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(k.PublicKey) }
