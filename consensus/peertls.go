package consensus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Peer authentication. Members talk Raft and node-to-node HTTP over mutual
// TLS 1.3 with certificates from the cluster's own CA. A node certificate
// names its node id as a URI SAN, traceledger:node:<id>; a peer is who its
// certificate says, and a peer claiming another id than its certificate's
// is refused. Raft is crash-tolerant, not Byzantine-tolerant: this is what
// keeps anyone who is not a member out of it.

// nodeURIScheme prefixes a node id in a certificate's URI SAN.
const nodeURIScheme = "traceledger:node:"

// ErrPeerIdentity: a peer's certificate does not name the node it claims
// to be, or names no node at all.
var ErrPeerIdentity = errors.New("consensus: peer certificate does not name that node")

// PeerTLS is this node's credentials for mutual TLS with its peers.
type PeerTLS struct {
	ca      *x509.CertPool
	caCerts []*x509.Certificate
	cert    tls.Certificate
	id      string // the node id this node's certificate names
}

// LoadPeerTLS reads the cluster CA certificate and this node's certificate
// and key (PEM). The certificate must chain to the CA and name a node id.
func LoadPeerTLS(caFile, certFile, keyFile string) (*PeerTLS, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer CA: %w", err)
	}
	pool := x509.NewCertPool()
	var caCerts []*x509.Certificate
	for rest := caPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("peer CA %s: %w", caFile, err)
		}
		pool.AddCert(c)
		caCerts = append(caCerts, c)
	}
	if len(caCerts) == 0 {
		return nil, fmt.Errorf("peer CA %s: no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("peer certificate %s is not issued by the CA in %s: %w", certFile, caFile, err)
	}
	id, ok := NodeIDOf(leaf)
	if !ok {
		return nil, fmt.Errorf("peer certificate %s names no node (want a URI SAN %s<id>)", certFile, nodeURIScheme)
	}
	cert.Leaf = leaf
	return &PeerTLS{ca: pool, caCerts: caCerts, cert: cert, id: id}, nil
}

// CACerts are the cluster CA's certificates; a joining node also trusts
// them for a member's HTTPS API (a small cluster may serve its public API
// with certificates from the same CA).
func (p *PeerTLS) CACerts() []*x509.Certificate { return p.caCerts }

// NodeID is the node id this node's certificate names.
func (p *PeerTLS) NodeID() string { return p.id }

// NodeIDOf returns the node id a certificate names, if exactly one.
func NodeIDOf(c *x509.Certificate) (string, bool) {
	var id string
	n := 0
	for _, u := range c.URIs {
		if s := u.String(); strings.HasPrefix(s, nodeURIScheme) {
			id, n = strings.TrimPrefix(s, nodeURIScheme), n+1
		}
	}
	return id, n == 1 && id != ""
}

// serverConfig accepts only clients with a certificate from the CA that
// names a node.
func (p *PeerTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ca,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPeerIdentity
			}
			if _, ok := NodeIDOf(cs.PeerCertificates[0]); !ok {
				return ErrPeerIdentity
			}
			return nil
		},
	}
}

// clientConfig dials host (a name or IP the server's certificate must
// carry) and, when wantID is not empty, requires the server's certificate
// to name that node.
func (p *PeerTLS) clientConfig(host, wantID string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.cert},
		RootCAs:      p.ca,
		ServerName:   host,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPeerIdentity
			}
			id, ok := NodeIDOf(cs.PeerCertificates[0])
			if !ok || (wantID != "" && id != wantID) {
				return fmt.Errorf("%w: want %q, got %q", ErrPeerIdentity, wantID, id)
			}
			return nil
		},
	}
}

// NewCA makes a development certificate authority for a cluster: an ECDSA
// P-256 key and a self-signed certificate valid for ten years. Production
// clusters may use their own CA instead; nodes only need its certificate.
func NewCA(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"traceledger"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return encodePair(der, key)
}

// IssueNodeCert issues a certificate for node id, signed by the CA, valid
// for client and server authentication for two years. hosts are the DNS
// names and IP addresses peers dial the node at; the certificate also
// names the node as traceledger:node:<id>.
func IssueNodeCert(caCertPEM, caKeyPEM []byte, id string, hosts []string) (certPEM, keyPEM []byte, err error) {
	if id == "" || strings.ContainsAny(id, " /\\\t\n") {
		return nil, nil, fmt.Errorf("node id %q: want a non-empty id without spaces or slashes", id)
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("a node certificate needs at least one host name or IP its peers dial")
	}
	ca, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("CA: %w", err)
	}
	if !caCert.IsCA {
		return nil, nil, errors.New("CA: the certificate is not a CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(nodeURIScheme + id)
	if err != nil {
		return nil, nil, fmt.Errorf("node id %q: %w", id, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id, Organization: []string{"traceledger"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return encodePair(der, key)
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func encodePair(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

// WriteCA makes a CA (NewCA) and writes dir/ca.pem and dir/ca.key (0600).
func WriteCA(dir, name string) error {
	certPEM, keyPEM, err := NewCA(name)
	if err != nil {
		return fmt.Errorf("make CA: %w", err)
	}
	return writePair(dir, "ca", certPEM, keyPEM)
}

// WriteNodeCert issues a certificate for node id with the CA in caDir
// (ca.pem, ca.key) and writes dir/node.pem and dir/node.key (0600).
func WriteNodeCert(caDir, id string, hosts []string, dir string) error {
	caCert, err := os.ReadFile(filepath.Join(caDir, "ca.pem"))
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	caKey, err := os.ReadFile(filepath.Join(caDir, "ca.key"))
	if err != nil {
		return fmt.Errorf("read CA key: %w", err)
	}
	certPEM, keyPEM, err := IssueNodeCert(caCert, caKey, id, hosts)
	if err != nil {
		return fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	return writePair(dir, "node", certPEM, keyPEM)
}

// writePair writes NAME.pem (0644) and NAME.key (0600), refusing to
// overwrite a key: a replaced CA key would orphan every issued certificate.
func writePair(dir, name string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyPath := filepath.Join(dir, name+".key")
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(keyPEM); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".pem"), certPEM, 0o644)
}
