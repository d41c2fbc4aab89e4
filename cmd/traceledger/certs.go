package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/traceledger/traceledger/consensus"
)

// runCerts makes the certificates members authenticate each other with:
//
//	traceledger certs init --out DIR                     DIR/ca.pem, DIR/ca.key
//	traceledger certs node --ca DIR --id n2 --host HOST... --out DIR2   DIR2/node.pem, DIR2/node.key
//
// Each node then runs with --peer-ca DIR/ca.pem --peer-cert DIR2/node.pem
// --peer-key DIR2/node.key. Keep ca.key off the nodes.
func runCerts(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: traceledger certs init --out DIR | certs node --ca DIR --id ID --host HOST... --out DIR")
	}
	switch args[0] {
	case "init":
		fs := newFlags("certs init")
		out := fs.String("out", "", "directory to write ca.pem and ca.key to")
		name := fs.String("name", "traceledger cluster CA", "the CA's common name")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("--out DIR is required")
		}
		return certsInit(*out, *name)
	case "node":
		fs := newFlags("certs node")
		ca := fs.String("ca", "", "directory holding ca.pem and ca.key (from certs init)")
		id := fs.String("id", "", "the node id (serve --node-id) the certificate names")
		out := fs.String("out", "", "directory to write node.pem and node.key to")
		var hosts listFlag
		fs.Var(&hosts, "host", "DNS name or IP address peers dial this node at (repeatable)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *ca == "" || *id == "" || *out == "" || len(hosts) == 0 {
			return errors.New("--ca, --id, --out and at least one --host are required")
		}
		return certsNode(*ca, *id, hosts, *out)
	}
	return fmt.Errorf("unknown certs command %q (want init or node)", args[0])
}

func certsInit(dir, name string) error {
	if err := consensus.WriteCA(dir, name); err != nil {
		return err
	}
	fmt.Printf("CA certificate %s, key %s (keep the key off the nodes)\n", filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	return nil
}

func certsNode(caDir, id string, hosts []string, dir string) error {
	if err := consensus.WriteNodeCert(caDir, id, hosts, dir); err != nil {
		return err
	}
	fmt.Printf("node %s: certificate %s, key %s\n", id, filepath.Join(dir, "node.pem"), filepath.Join(dir, "node.key"))
	return nil
}
