package main

// keygen on a terminal: it asks for the passphrase twice, without echo.
// The terminal is a pseudo-terminal the test holds the other end of.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"golang.org/x/sys/unix"

	"github.com/traceledger/traceledger/ledger"
)

// pty is a pseudo-terminal: the test writes to and reads from master, the
// command under test has tty as its stdin and stderr.
type pty struct {
	master, tty *os.File
	mu          sync.Mutex
	seen        bytes.Buffer
}

func openPTY(t *testing.T) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Skipf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Skipf("pseudo-terminal number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("open pseudo-terminal: %v", err)
	}
	p := &pty{master: master, tty: tty}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.seen.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { tty.Close(); master.Close() })
	return p
}

func (p *pty) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen.String()
}

// waitFor polls until cond holds, for at most 30 s.
func (p *pty) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; terminal so far: %q", what, p.transcript())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// typeSecret waits for the prompt and for echo to be off, then types line.
func (p *pty) typeSecret(t *testing.T, prompt, line string) {
	t.Helper()
	p.waitFor(t, "the prompt "+prompt, func() bool { return strings.Contains(p.transcript(), prompt) })
	p.waitFor(t, "echo off", func() bool {
		tio, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO == 0
	})
	if _, err := p.master.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

func TestKeygenAsksOnTheTerminal(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string
		ok            bool
		says          string
	}{
		{"the same twice", "s3cret-lychee", "s3cret-lychee", true, ""},
		{"two different", "s3cret-lychee", "s3cret-litchi", false, "differ"},
		{"empty", "", "", false, "empty passphrase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := openPTY(t)
			out := filepath.Join(t.TempDir(), "key")
			cmd := exec.Command(binPath, "keygen", "--light-kdf", "--out", out)
			cmd.Env = cleanEnv()
			var stdout bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = p.tty, &stdout, p.tty
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			p.typeSecret(t, "Passphrase for the new key: ", tc.first)
			if tc.first != "" {
				p.typeSecret(t, "The same passphrase again: ", tc.second)
			}
			var err error
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("keygen did not finish; terminal: %q", p.transcript())
			}
			if tc.first != "" && strings.Contains(p.transcript(), tc.first) {
				t.Errorf("the passphrase was echoed: %q", p.transcript())
			}
			if !tc.ok {
				if err == nil {
					t.Errorf("keygen succeeded: %s", stdout.String())
				}
				p.waitFor(t, "the reason", func() bool { return strings.Contains(p.transcript(), tc.says) })
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused keygen left a key file (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("keygen: %v; terminal: %q", err, p.transcript())
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			k, err := keystore.DecryptKey(data, tc.first)
			if err != nil {
				t.Fatalf("the key does not open with the typed passphrase: %v", err)
			}
			if got := ledger.AddressOf(k.PrivateKey).Hex(); got != strings.TrimSpace(stdout.String()) {
				t.Errorf("key of %s, keygen printed %q", got, stdout.String())
			}
		})
	}
}
