package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The Docker testnet: the cluster of docker-compose.yml (three nodes with
// peer TLS and a one-shot seeding container) under a compose project of
// its own, driven by the docker and docker-compose commands. It is what
// make testnet-docker runs, and what the Docker test runs faults against:
// containers killed and restarted, cut from the network and put back.

// ErrNoDocker: there is no Docker engine to run the testnet on.
var ErrNoDocker = errors.New("testnet: no Docker engine")

// CheckDocker returns ErrNoDocker, saying why, unless the docker and
// docker-compose commands exist and the engine answers.
func CheckDocker(ctx context.Context) error {
	for _, c := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: %s is not installed", ErrNoDocker, c)
		}
	}
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: the engine does not answer: %s", ErrNoDocker, firstLine(out))
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// BuildImage builds the FROM-scratch image (testnet/Dockerfile) around a
// statically linked binary of the module in moduleDir, and returns its
// tag, traceledger:<first 12 hex digits of the binary's SHA-256>. The Go
// build cache makes an unchanged binary quick to relink, and an image of
// the same binary is not built again.
func BuildImage(ctx context.Context, moduleDir string) (string, error) {
	dir, err := os.MkdirTemp("", "traceledger-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "traceledger")
	// The same flags as make image: secp256k1 is linked through cgo.
	build := exec.CommandContext(ctx, "go", "build", "-tags", "netgo,osusergo",
		"-ldflags", `-s -w -linkmode external -extldflags "-static"`, "-o", bin, "./cmd/traceledger")
	build.Dir = moduleDir
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("static build: %v\n%s", err, out)
	}
	f, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	tag := "traceledger:" + hex.EncodeToString(h.Sum(nil))[:12]
	if exec.CommandContext(ctx, "docker", "image", "inspect", tag).Run() == nil {
		return tag, nil
	}
	df, err := os.ReadFile(filepath.Join(moduleDir, "testnet", "Dockerfile"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build: %v\n%s", err, out)
	}
	return tag, nil
}

// Compose is one running copy of docker-compose.yml. Its methods may be
// called concurrently: each runs docker or docker-compose once and keeps
// no state.
type Compose struct {
	// Project is the compose project name: containers, network and
	// volumes are named after it, so copies never collide.
	Project string
	// File is the path of docker-compose.yml.
	File string
	// Env is added to the environment of every docker-compose command:
	// the file's settings (TRACELEDGER_IMAGE, TRACELEDGER_CERTS, …).
	Env []string
}

// Nodes are the node services of docker-compose.yml.
var Nodes = []string{"n1", "n2", "n3"}

// network is the compose network the nodes share.
func (c *Compose) network() string { return c.Project + "_ledger" }

// compose runs docker-compose with the project's name and file.
func (c *Compose) compose(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", c.Project, "-f", c.File}, args...)...)
	cmd.Env = append(os.Environ(), c.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// Up creates and starts every service in the background.
func (c *Compose) Up(ctx context.Context) error {
	_, err := c.compose(ctx, "up", "-d", "--no-build")
	return err
}

// Down stops and removes the containers, the network and the volumes.
func (c *Compose) Down(ctx context.Context) error {
	_, err := c.compose(ctx, "down", "-v", "--remove-orphans", "-t", "5")
	return err
}

// Logs returns the output of every service.
func (c *Compose) Logs(ctx context.Context) string {
	out, _ := c.compose(ctx, "logs", "--no-color", "--tail", "200")
	return out
}

// Container returns the id of a service's container.
func (c *Compose) Container(ctx context.Context, service string) (string, error) {
	out, err := c.compose(ctx, "ps", "-q", service)
	id := strings.TrimSpace(out)
	if err == nil && id == "" {
		err = fmt.Errorf("no container for %s", service)
	}
	return id, err
}

// URL returns the base URL of a node's HTTP API at its container's
// address on the compose network: reachable from this host without
// publishing a port. It fails while the container is off the network.
func (c *Compose) URL(ctx context.Context, service string) (string, error) {
	id, err := c.Container(ctx, service)
	if err != nil {
		return "", err
	}
	ip, err := docker(ctx, "inspect", "-f", fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, c.network()), id)
	if err != nil {
		return "", err
	}
	if ip == "" {
		return "", fmt.Errorf("%s is not on %s", service, c.network())
	}
	return "http://" + ip + ":8080", nil
}

// ExitCode returns a finished container's exit code, or -1 while it runs.
func (c *Compose) ExitCode(ctx context.Context, service string) (int, error) {
	id, err := c.Container(ctx, service)
	if err != nil {
		return 0, err
	}
	out, err := docker(ctx, "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", id)
	if err != nil {
		return 0, err
	}
	var running bool
	var code int
	if _, err := fmt.Sscan(out, &running, &code); err != nil {
		return 0, fmt.Errorf("inspect %s: %q", service, out)
	}
	if running {
		return -1, nil
	}
	return code, nil
}

// Kill sends SIGKILL to a service's container.
func (c *Compose) Kill(ctx context.Context, service string) error {
	id, err := c.Container(ctx, service)
	if err == nil {
		_, err = docker(ctx, "kill", id)
	}
	return err
}

// Start starts a service's container again (nothing if it runs).
func (c *Compose) Start(ctx context.Context, service string) error {
	id, err := c.Container(ctx, service)
	if err == nil {
		_, err = docker(ctx, "start", id)
	}
	return err
}

// Disconnect cuts a service's container off the compose network: its
// peers and clients can no longer reach it, nor it them.
func (c *Compose) Disconnect(ctx context.Context, service string) error {
	id, err := c.Container(ctx, service)
	if err == nil {
		_, err = docker(ctx, "network", "disconnect", c.network(), id)
	}
	return err
}

// Connect puts a disconnected container back on the compose network,
// under its service name, which its peers know it by.
func (c *Compose) Connect(ctx context.Context, service string) error {
	id, err := c.Container(ctx, service)
	if err == nil {
		_, err = docker(ctx, "network", "connect", "--alias", service, c.network(), id)
	}
	return err
}
