package fieldapp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/traceledger/traceledger/ledger"
)

// The key backup file, written by the app (app/store.js) and by
// SealBackup, read by the app and by OpenBackup; its layout is in the
// package comment. Both sides are tested against each other.

// BackupFormat names version 1 of the key backup file. A later layout gets
// a new name; readers refuse names they do not know.
const BackupFormat = "traceledger-key-backup/1"

// BackupIterations is the PBKDF2 iteration count new backups use.
const BackupIterations = 600_000

// Bounds on the iteration count a backup file may ask for: a weak file is
// refused, and a hostile one cannot make the reader spin for minutes.
const (
	minIterations = 100_000
	maxIterations = 10_000_000
)

// Errors of OpenBackup that callers branch on.
var (
	ErrNotBackup = errors.New("fieldapp: not a " + BackupFormat + " file")
	ErrWrongPIN  = errors.New("fieldapp: wrong PIN for the key backup")
)

// Backup is the JSON of a key backup file.
type Backup struct {
	Format  string `json:"format"`
	Address string `json:"address"`
	KDF     struct {
		Name       string `json:"name"`
		Hash       string `json:"hash"`
		Iterations int    `json:"iterations"`
		Salt       string `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name string `json:"name"`
		IV   string `json:"iv"`
	} `json:"cipher"`
	Ciphertext string `json:"ciphertext"`
}

// IsBackup reports whether data looks like a key backup file (a JSON
// object naming BackupFormat), as opposed to a keystore or a hex key.
func IsBackup(data []byte) bool {
	var b struct {
		Format string `json:"format"`
	}
	return json.Unmarshal(bytes.TrimSpace(data), &b) == nil && b.Format == BackupFormat
}

func backupAEAD(pin string, salt []byte, iterations int) (cipher.AEAD, error) {
	key, err := pbkdf2.Key(sha256.New, pin, salt, iterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealBackup encrypts k under pin into a key backup file.
func SealBackup(k *ecdsa.PrivateKey, pin string, iterations int) ([]byte, error) {
	if iterations < minIterations || iterations > maxIterations {
		return nil, fmt.Errorf("fieldapp: %d PBKDF2 iterations, want %d–%d", iterations, minIterations, maxIterations)
	}
	salt, iv := make([]byte, 16), make([]byte, 12)
	rand.Read(salt)
	rand.Read(iv)
	aead, err := backupAEAD(pin, salt, iterations)
	if err != nil {
		return nil, fmt.Errorf("fieldapp: seal key: %w", err)
	}
	var b Backup
	b.Format = BackupFormat
	b.Address = ledger.AddressOf(k).Hex()
	b.KDF.Name, b.KDF.Hash, b.KDF.Iterations = "PBKDF2", "SHA-256", iterations
	b.KDF.Salt = base64.StdEncoding.EncodeToString(salt)
	b.Cipher.Name, b.Cipher.IV = "AES-GCM", base64.StdEncoding.EncodeToString(iv)
	b.Ciphertext = base64.StdEncoding.EncodeToString(aead.Seal(nil, iv, crypto.FromECDSA(k), []byte(b.Address)))
	out, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// OpenBackup decrypts a key backup file with pin. It returns ErrNotBackup
// for anything but a well-formed version-1 file, ErrWrongPIN when the PIN
// does not open it, and an error when the key inside is not the address
// the file names.
func OpenBackup(data []byte, pin string) (*ecdsa.PrivateKey, error) {
	var b Backup
	if err := json.Unmarshal(bytes.TrimSpace(data), &b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBackup, err)
	}
	if b.Format != BackupFormat || b.KDF.Name != "PBKDF2" || b.KDF.Hash != "SHA-256" || b.Cipher.Name != "AES-GCM" {
		return nil, fmt.Errorf("%w: format %q, kdf %s/%s, cipher %s", ErrNotBackup, b.Format, b.KDF.Name, b.KDF.Hash, b.Cipher.Name)
	}
	if b.KDF.Iterations < minIterations || b.KDF.Iterations > maxIterations {
		return nil, fmt.Errorf("%w: %d PBKDF2 iterations, want %d–%d", ErrNotBackup, b.KDF.Iterations, minIterations, maxIterations)
	}
	salt, err1 := base64.StdEncoding.DecodeString(b.KDF.Salt)
	iv, err2 := base64.StdEncoding.DecodeString(b.Cipher.IV)
	ct, err3 := base64.StdEncoding.DecodeString(b.Ciphertext)
	if err := errors.Join(err1, err2, err3); err != nil || len(iv) != 12 || len(salt) < 8 {
		return nil, fmt.Errorf("%w: salt, iv or ciphertext is not base64 of the right length", ErrNotBackup)
	}
	aead, err := backupAEAD(pin, salt, b.KDF.Iterations)
	if err != nil {
		return nil, fmt.Errorf("fieldapp: open key: %w", err)
	}
	raw, err := aead.Open(nil, iv, ct, []byte(b.Address))
	if err != nil {
		return nil, ErrWrongPIN
	}
	k, err := crypto.ToECDSA(raw)
	if err != nil {
		return nil, fmt.Errorf("fieldapp: the backup holds no valid key: %w", err)
	}
	if got := ledger.AddressOf(k).Hex(); got != b.Address {
		return nil, fmt.Errorf("fieldapp: the backup names %s but holds the key of %s", b.Address, got)
	}
	return k, nil
}
