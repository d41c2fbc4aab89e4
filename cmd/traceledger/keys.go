package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
	"golang.org/x/term"

	"github.com/traceledger/traceledger/ledger"
)

// Key files come in two forms:
//
//   - the go-ethereum keystore (Web3 Secret Storage v3: scrypt + AES-128-CTR),
//     protected by a passphrase: what geth, MetaMask imports and most
//     wallets read and write. The default.
//   - plain: the private key as 64 hex digits and a newline, for demos and
//     test networks only (--plain).
//
// Both are written with mode 0600.

func newKey() (*ecdsa.PrivateKey, error) { return crypto.GenerateKey() }

func savePlainKey(path string, k *ecdsa.PrivateKey) error {
	return writeSecret(path, []byte(hex.EncodeToString(crypto.FromECDSA(k))+"\n"))
}

// writeSecret creates path with mode 0600 and refuses to overwrite.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadKey reads a key file in either form. A keystore file needs the
// passphrase; a plain file ignores it.
func loadKey(path, passphrase string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		k, err := keystore.DecryptKey(trimmed, passphrase)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (set --passphrase-file or TRACELEDGER_PASSPHRASE)", path, err)
		}
		return k.PrivateKey, nil
	}
	k, err := crypto.HexToECDSA(strings.TrimPrefix(string(trimmed), "0x"))
	if err != nil {
		return nil, fmt.Errorf("%s: not a keystore file and not a hex private key", path)
	}
	return k, nil
}

// passphrase returns the passphrase from a file, or TRACELEDGER_PASSPHRASE.
// keyFromFlags loads the key named by --key, with the passphrase of
// --passphrase-file (or $TRACELEDGER_PASSPHRASE).
func keyFromFlags(keyFile, passFile string) (*ecdsa.PrivateKey, error) {
	if keyFile == "" {
		return nil, errors.New("--key FILE is required")
	}
	pass, err := passphrase(passFile)
	if err != nil {
		return nil, err
	}
	return loadKey(keyFile, pass)
}

func passphrase(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("passphrase file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv("TRACELEDGER_PASSPHRASE"), nil
}

func runKeygen(ctx context.Context, args []string) error {
	fs := newFlags("keygen")
	out := fs.String("out", "", "key file to create (mode 0600; never overwritten)")
	plain := fs.Bool("plain", false, "write the private key as plain hex (demos only) instead of a passphrase-protected keystore")
	passFile := fs.String("passphrase-file", "", "file holding the keystore passphrase (default $TRACELEDGER_PASSPHRASE)")
	light := fs.Bool("light-kdf", false, "cheaper scrypt parameters for slow devices (weaker against brute force)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required")
	}
	k, err := newKey()
	if err != nil {
		return err
	}
	if *plain {
		if err := savePlainKey(*out, k); err != nil {
			return err
		}
	} else {
		pass, err := passphrase(*passFile)
		if err != nil {
			return err
		}
		if pass == "" {
			if !term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("a keystore needs a passphrase, and there is no terminal to ask for one on: set --passphrase-file or TRACELEDGER_PASSPHRASE (or --plain for a demo key)")
			}
			if pass, err = askNewPassphrase(os.Stdin, os.Stderr); err != nil {
				return err
			}
		}
		n, p := keystore.StandardScryptN, keystore.StandardScryptP
		if *light {
			n, p = keystore.LightScryptN, keystore.LightScryptP
		}
		id, err := uuid.NewRandom()
		if err != nil {
			return err
		}
		blob, err := keystore.EncryptKey(&keystore.Key{Id: id, Address: ledger.AddressOf(k), PrivateKey: k}, pass, n, p)
		if err != nil {
			return err
		}
		if err := writeSecret(*out, blob); err != nil {
			return err
		}
	}
	fmt.Println(ledger.AddressOf(k).Hex())
	return nil
}

// askNewPassphrase asks for a new keystore's passphrase on the terminal
// tty, without echo, twice.
func askNewPassphrase(tty *os.File, prompt io.Writer) (string, error) {
	read := func(q string) (string, error) {
		fmt.Fprint(prompt, q)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		return string(b), nil
	}
	first, err := read("Passphrase for the new key: ")
	if err != nil {
		return "", err
	}
	if first == "" {
		return "", errors.New("an empty passphrase protects nothing; no key written (--plain writes an unprotected demo key)")
	}
	again, err := read("The same passphrase again: ")
	if err != nil {
		return "", err
	}
	if again != first {
		return "", errors.New("the two passphrases differ; no key written")
	}
	return first, nil
}

func runSign(ctx context.Context, args []string) error {
	fs := newFlags("sign")
	keyFile := fs.String("key", "", "key file (keystore or plain)")
	passFile := fs.String("passphrase-file", "", "file holding the keystore passphrase (default $TRACELEDGER_PASSPHRASE)")
	out := fs.String("out", "", "write the envelope here instead of stdout")
	base := fs.String("url", defaultURL(), "node URL: a transfer or receive without \"after\" gets the digest of the lot's latest record from it")
	offline := fs.Bool("offline", false, "do not ask a node for the lot's latest record")
	var history listFlag
	fs.Var(&history, "history", "envelope file or directory to find your latest record on the lot in when no node answers (repeatable; default: the record file's directory)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	key, err := keyFromFlags(*keyFile, *passFile)
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if fs.NArg() > 1 {
		return errors.New("sign takes one record file (or stdin)")
	}
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
		if len(history) == 0 {
			history = listFlag{filepath.Dir(fs.Arg(0))}
		}
	}
	raw, err := io.ReadAll(io.LimitReader(in, ledger.MaxRecordBytes+1))
	if err != nil {
		return err
	}
	src := &afterSource{history: history, key: key, note: os.Stderr}
	if !*offline {
		if src.client, err = newClient(*base); err != nil {
			return err
		}
	}
	env, err := signRecordAfter(ctx, key, raw, time.Now(), src)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(env, "", "  ")
	b = append(b, '\n')
	if *out != "" {
		return os.WriteFile(*out, b, 0o644)
	}
	_, err = os.Stdout.Write(b)
	return err
}

// signRecord fills in what the signer can know — signer, and time and id
// when missing — checks the record as the ledger will, and signs it.
func signRecord(key *ecdsa.PrivateKey, raw []byte, now time.Time) (*ledger.Envelope, error) {
	return signRecordAfter(context.Background(), key, raw, now, nil)
}

// signRecordAfter is signRecord that also fills "after" from src, when
// src is not nil.
func signRecordAfter(ctx context.Context, key *ecdsa.PrivateKey, raw []byte, now time.Time, src *afterSource) (*ledger.Envelope, error) {
	// Refuse what a map would hide: a member named twice.
	if _, err := ledger.Canonicalize(raw); err != nil {
		return nil, err
	}
	var rec map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("record is not a JSON object: %w", err)
	}
	me := ledger.AddressOf(key).Hex()
	switch s, _ := rec["signer"].(string); {
	case s == "":
		rec["signer"] = me
	case !strings.EqualFold(s, me):
		return nil, fmt.Errorf("record names signer %s but the key is %s", s, me)
	}
	if _, ok := rec["time"]; !ok {
		rec["time"] = now.Format(time.RFC3339)
	}
	if _, ok := rec["id"]; !ok {
		typ, _ := rec["type"].(string)
		rec["id"] = fmt.Sprintf("%s-%s", typ, uuid.NewString())
	}
	if src != nil {
		if err := src.fill(ctx, rec); err != nil {
			return nil, err
		}
		if err := src.fillLedger(ctx, rec); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	env, err := ledger.SignEnvelope(key, b)
	if err != nil {
		return nil, err
	}
	if _, err := ledger.Admit(env, now); err != nil {
		return nil, fmt.Errorf("the ledger would refuse this record: %w", err)
	}
	return &env, nil
}
