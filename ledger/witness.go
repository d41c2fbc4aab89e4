package ledger

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Outside witnesses. A witness (c2sp.org/tlog-witness) checks that each
// checkpoint it is shown extends the last one it saw of this ledger, and
// cosigns it (c2sp.org/tlog-cosignature). A verifier that requires the
// cosignatures of witnesses run by others than the ledger's operator no
// longer has to trust that operator not to show different histories to
// different people.
//
// Which witnesses, and how many, is a policy (c2sp.org/tlog-policy):
//
//	witness w1 witness.example/w1+3b2a1c0d+BLnE… https://witness.example/w1
//	witness w2 other.example/w2+0a1b2c3d+BN3x…
//	group two 2 w1 w2
//	quorum two

// ErrWitnessPolicy: a policy file that does not parse.
var ErrWitnessPolicy = errors.New("witness policy")

// ErrWitnessQuorum: a checkpoint without the cosignatures its policy
// requires.
var ErrWitnessQuorum = errors.New("witness quorum not met")

// algCosignatureV1 is the signature type byte of cosignature/v1 keys
// (c2sp.org/signed-note, c2sp.org/tlog-cosignature).
const algCosignatureV1 = 0x04

// cosignatureVerifier verifies cosignature/v1 signatures: Ed25519 over
//
//	cosignature/v1
//	time <seconds since the epoch>
//	<checkpoint text>
//
// with the signature encoded as the timestamp (8 bytes, big-endian)
// followed by the 64-byte Ed25519 signature.
type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, m, sig[8:])
}

// NewCosignatureVerifier parses a witness's cosignature/v1 verifier key,
// "<name>+<key hash:8 hex>+<base64(0x04 ‖ Ed25519 public key)>".
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" || strings.ContainsAny(name, " \t\n+") {
		return nil, fmt.Errorf("%w: malformed verifier key %q", ErrWitnessPolicy, vkey)
	}
	h, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if err1 != nil || err2 != nil || len(hash16) != 8 || len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("%w: %q is not a cosignature/v1 (Ed25519) verifier key", ErrWitnessPolicy, vkey)
	}
	sum := sha256.Sum256(append([]byte(name+"\n"), key...))
	if uint32(h) != binary.BigEndian.Uint32(sum[:4]) {
		return nil, fmt.Errorf("%w: verifier key %q: key hash does not match", ErrWitnessPolicy, vkey)
	}
	return &cosignatureVerifier{name: name, hash: uint32(h), key: ed25519.PublicKey(key[1:])}, nil
}

// PolicyWitness is one witness of a policy.
type PolicyWitness struct {
	Name     string // the policy's name for it
	VKey     string
	URL      string // its submission prefix; may be empty in a verifier's policy
	Verifier note.Verifier
}

// policyGroup is a group or the quorum: at least K of its members.
type policyGroup struct {
	k       int
	members []string // witness or group names
}

// WitnessPolicy is a parsed c2sp.org/tlog-policy file.
type WitnessPolicy struct {
	Witnesses []PolicyWitness
	// Logs are the log verifier keys the policy lists. Node keys are
	// trusted separately (traceledger verify --trust); Logs is kept for
	// callers that want to compare.
	Logs   []string
	groups map[string]policyGroup
	quorum string // "none", a witness or a group
}

// ParseWitnessPolicy parses a C2SP tlog-policy file: "log VKEY [URL]",
// "witness NAME VKEY [URL]", "group NAME all|any|K MEMBER…" and exactly
// one "quorum NAME" line, names defined before use, each name a group
// member at most once, no key listed twice, and only tab, newline and
// printable bytes.
func ParseWitnessPolicy(data []byte) (*WitnessPolicy, error) {
	p := &WitnessPolicy{groups: map[string]policyGroup{}}
	defined := map[string]bool{"none": true}
	keys := map[string]bool{}
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return nil, fmt.Errorf("%w: control character 0x%02x", ErrWitnessPolicy, c)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for ln := 1; sc.Scan(); ln++ {
		f := strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == ' ' || r == '\t' })
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrWitnessPolicy, ln, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, bad("want: log VKEY [URL]")
			}
			if _, err := note.NewVerifier(f[1]); err != nil {
				return nil, bad("log key: %v", err)
			}
			p.Logs = append(p.Logs, f[1])
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, bad("want: witness NAME VKEY [URL]")
			}
			if defined[f[1]] {
				return nil, bad("name %q defined twice", f[1])
			}
			v, err := NewCosignatureVerifier(f[2])
			if err != nil {
				return nil, bad("%v", err)
			}
			pub := string(v.(*cosignatureVerifier).key)
			if keys[pub] {
				return nil, bad("witness %q repeats another witness's key", f[1])
			}
			keys[pub] = true
			w := PolicyWitness{Name: f[1], VKey: f[2], Verifier: v}
			if len(f) == 4 {
				w.URL = strings.TrimRight(f[3], "/")
			}
			defined[f[1]] = true
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return nil, bad("want: group NAME all|any|K MEMBER…")
			}
			if defined[f[1]] {
				return nil, bad("name %q defined twice", f[1])
			}
			g := policyGroup{members: f[3:]}
			seen := map[string]bool{}
			for _, m := range g.members {
				if !defined[m] || m == "none" {
					return nil, bad("group member %q is not a witness or group defined above", m)
				}
				if seen[m] {
					return nil, bad("group member %q listed twice", m)
				}
				seen[m] = true
			}
			switch f[2] {
			case "all":
				g.k = len(g.members)
			case "any":
				g.k = 1
			default:
				k, err := strconv.Atoi(f[2])
				if err != nil || strconv.Itoa(k) != f[2] || k < 1 || k > len(g.members) {
					return nil, bad("threshold %q: want all, any or 1 ≤ K ≤ %d", f[2], len(g.members))
				}
				g.k = k
			}
			defined[f[1]] = true
			p.groups[f[1]] = g
		case "quorum":
			if len(f) != 2 {
				return nil, bad("want: quorum NAME")
			}
			if p.quorum != "" {
				return nil, bad("a second quorum line")
			}
			if !defined[f[1]] {
				return nil, bad("quorum %q is not defined above", f[1])
			}
			p.quorum = f[1]
		default:
			return nil, bad("unknown keyword %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWitnessPolicy, err)
	}
	if p.quorum == "" {
		return nil, fmt.Errorf("%w: no quorum line", ErrWitnessPolicy)
	}
	return p, nil
}

// Quorum names the policy's quorum ("none", a witness or a group).
func (p *WitnessPolicy) Quorum() string { return p.quorum }

// satisfied evaluates name (a witness, a group or "none") against the set
// of witnesses whose cosignature verified.
func (p *WitnessPolicy) satisfied(name string, cosigned map[string]bool) bool {
	if name == "none" {
		return true
	}
	g, ok := p.groups[name]
	if !ok {
		return cosigned[name]
	}
	n := 0
	for _, m := range g.members {
		if p.satisfied(m, cosigned) {
			n++
		}
	}
	return n >= g.k
}

// Cosigners returns the names (in the policy) of the witnesses whose
// valid cosignature the checkpoint note msg carries. Signatures by other
// keys are ignored; a signature that claims a witness's key but does not
// verify is an error.
func (p *WitnessPolicy) Cosigners(msg []byte) ([]string, error) {
	if len(p.Witnesses) == 0 {
		return nil, nil
	}
	vs := make([]note.Verifier, len(p.Witnesses))
	byKey := map[string]string{}
	for i, w := range p.Witnesses {
		vs[i] = w.Verifier
		byKey[fmt.Sprintf("%s+%08x", w.Verifier.Name(), w.Verifier.KeyHash())] = w.Name
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	var names []string
	for _, s := range n.Sigs {
		if w, ok := byKey[fmt.Sprintf("%s+%08x", s.Name, s.Hash)]; ok {
			names = append(names, w)
		}
	}
	return names, nil
}

// CheckQuorum verifies that the checkpoint note msg carries the witness
// cosignatures the policy's quorum requires, and returns the witnesses
// that cosigned. It does not check the nodes' signatures (OpenCheckpoint
// does).
func (p *WitnessPolicy) CheckQuorum(msg []byte) ([]string, error) {
	names, err := p.Cosigners(msg)
	if err != nil {
		return names, err
	}
	cosigned := map[string]bool{}
	for _, n := range names {
		cosigned[n] = true
	}
	if !p.satisfied(p.quorum, cosigned) {
		return names, fmt.Errorf("%w: quorum %q needs more witnesses than the %d that cosigned (%s)",
			ErrWitnessQuorum, p.quorum, len(names), strings.Join(names, ", "))
	}
	return names, nil
}
