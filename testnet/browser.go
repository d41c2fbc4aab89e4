package testnet

import "os/exec"

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
