// Package testnet runs traceledger clusters for tests, demos and
// benchmarks: the demo history of six Vietnamese specialty products
// (demo.go), and a harness that starts real traceledger processes on
// loopback, kills, pauses, restarts and partitions them, and checks that
// they converge. Package testnet/chaos runs a chaos workload on it.
package testnet
