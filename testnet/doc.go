// Package testnet runs traceledger clusters for tests, demos and
// benchmarks: a harness that starts real traceledger processes on
// loopback, kills, pauses, restarts and partitions them, and checks that
// they converge (procs.go); the same for the containers of the Docker
// testnet (docker.go); and ledgers of any size written straight through
// the applier (ledgerdata.go). Package testnet/chaos runs a chaos workload on
// the multi-process cluster.
package testnet
