package testnet

import (
	"fmt"
	"path/filepath"

	"github.com/traceledger/traceledger/consensus"
)

// MakePeerCerts makes a development CA in dir/ca and, for each node id, a
// certificate in dir/<id> valid for hosts (the names and IPs peers dial).
func MakePeerCerts(dir string, ids, hosts []string) error {
	if err := consensus.WriteCA(filepath.Join(dir, "ca"), "traceledger testnet CA"); err != nil {
		return err
	}
	for _, id := range ids {
		if err := consensus.WriteNodeCert(filepath.Join(dir, "ca"), id, hosts, filepath.Join(dir, id)); err != nil {
			return fmt.Errorf("node %s: %w", id, err)
		}
	}
	return nil
}

// PeerFiles names the CA certificate and node id's certificate and key
// that MakePeerCerts wrote under dir.
func PeerFiles(dir, id string) (ca, cert, key string) {
	return filepath.Join(dir, "ca", "ca.pem"), filepath.Join(dir, id, "node.pem"), filepath.Join(dir, id, "node.key")
}

// LoadPeerTLS loads node id's credentials from what MakePeerCerts wrote.
func LoadPeerTLS(dir, id string) (*consensus.PeerTLS, error) {
	return consensus.LoadPeerTLS(PeerFiles(dir, id))
}
