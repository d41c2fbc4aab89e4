package testnet

import (
	"os"
	"os/exec"
	"testing"
)

// FindBrowser returns the path of a Chromium-family browser on PATH, or ""
// when there is none. The browser tests (consumer pages, field app) drive
// it headless through chromedp; CI installs Debian's chromium (.ci/run).
func FindBrowser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// RequireBrowser returns FindBrowser's path, or skips the test when there
// is no browser; under CI (CI set) it fails instead, for a browser test
// must not pass by not running.
func RequireBrowser(t testing.TB) string {
	t.Helper()
	bin := FindBrowser()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium, chromium-browser or google-chrome on PATH; install Debian's chromium (.ci/run does: apt-get install -y chromium)")
		}
		t.Skip("no chromium, chromium-browser or google-chrome on PATH (with CI set this test fails instead)")
	}
	return bin
}
