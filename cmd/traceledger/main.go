// Command traceledger runs and uses a traceledger node: a Raft-replicated,
// signed, append-only ledger of the provenance of specialty products.
//
// Usage:
//
//	traceledger serve --data DIR --http HOST:PORT --raft HOST:PORT --node-id ID [--bootstrap] [--join URL] [--admin 0xADDR ...]
//	traceledger serve --dev
//	traceledger keygen --out FILE [--plain]
//	traceledger sign --key FILE [--url URL | --offline] [--history PATH ...] [RECORD.json]
//	traceledger submit [--url URL] FILE|DIR ...
//	traceledger lot [--url URL] GTIN LOT
//	traceledger bench ingest|failover|lookup|proof|recovery|storage [--json]
//	traceledger testnet --nodes 3
//	traceledger testnet chaos --nodes 3 --duration 60s [--seed N] [--json]
//	traceledger verify [--trust KEYFILE] BUNDLE|URL
//	traceledger audit --data DIR | --url URL [--tiles]
//	traceledger certs init --out DIR
//	traceledger certs node --ca DIR --id ID --host HOST... --out DIR
//	traceledger backup --url URL --out FILE
//	traceledger restore --from FILE --data DIR [--trust KEYFILE]
//	traceledger seed --url URL --admin-key FILE
//
// Every flag can also be set as TRACELEDGER_<FLAG> in the environment
// (TRACELEDGER_NODE_ID for --node-id); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":       {"run a node", runServe},
		"keygen":      {"create a signing key", runKeygen},
		"sign":        {"sign a record: record JSON in, envelope out", runSign},
		"submit":      {"send envelopes from files or directories, retrying until answered", runSubmit},
		"lot":         {"show a lot's state and history", runLot},
		"bench":       {"measure ingest, reads, proofs, recovery and storage on this machine", runBench},
		"testnet":     {"run a local multi-node cluster with the demo history", runTestnet},
		"verify":      {"check a provenance bundle offline: signatures, proofs, cosignatures, custody", runVerify},
		"audit":       {"re-check a whole ledger: hashes, signatures, rules, state, Merkle root", runAudit},
		"qr":          {"write the QR code (PNG or SVG) of a lot's GS1 Digital Link", runQR},
		"export":      {"write a lot's upstream history as a GS1 EPCIS 2.0 JSON-LD document", runExport},
		"certs":       {"make the CA and node certificates members authenticate each other with", runCerts},
		"participant": {"register a participant (participant add), signed with an admin's key", runParticipant},
		"backup":      {"stream a consistent backup of a running node's ledger into a file", runBackup},
		"restore":     {"prepare a new node's data directory from a backup file", runRestore},
		"seed":        {"submit the demo history to a running ledger (its genesis admin's key)", runSeed},
		"gateway":     {"serve the EPCIS 2.0 capture binding on a partner's side, signing with its key", runGateway},
		"import":      {"import epcis FILE: sign and submit the events of an EPCIS 2.0 document", runImport},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := commands()
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(cmds)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "traceledger: unknown command %q\n\n", os.Args[1])
		usage(cmds)
		os.Exit(2)
	}
	if err := c.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintf(os.Stderr, "traceledger %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// exitError ends the program with a status after the command has already
// reported what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func usage(cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: traceledger COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'traceledger COMMAND -h' for a command's flags")
}

// newFlags returns a flag set for a subcommand.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("traceledger "+name, flag.ContinueOnError)
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from TRACELEDGER_<NAME> (upper case, '-' as '_').
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "TRACELEDGER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

// listFlag is a repeatable flag; from the environment it takes a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func defaultURL() string {
	if u := os.Getenv("TRACELEDGER_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:8080"
}
