// Package testnet runs traceledger clusters for tests, demos and
// benchmarks: the demo history of six Vietnamese specialty products
// (demo.go), and a harness that starts real traceledger processes on
// loopback, kills, pauses, restarts and partitions them, and checks that
// they converge (procs.go); the same for the containers of the Docker
// testnet (docker.go); and ledgers of any size written straight through
// the applier (ledgerdata.go).
package testnet
