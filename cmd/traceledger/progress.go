package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// newBar is the command line's one progress bar (backup, restore, import,
// bench), on stderr and drawn only when stderr is a terminal: logs and
// pipes get no control characters. total ≤ 0 means unknown; bytes counts
// bytes rather than items. progressbar's bars are safe for concurrent Add.
func newBar(total int64, what string, bytes bool) *progressbar.ProgressBar {
	if total <= 0 {
		total = -1
	}
	visible := term.IsTerminal(int(os.Stderr.Fd()))
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(visible),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
	}
	if visible { // an invisible bar still runs its completion hook
		opts = append(opts, progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }))
	}
	return progressbar.NewOptions64(total, opts...)
}

// noteAbove prints a line on stderr above bar, which is drawn again below
// it on its next update.
func noteAbove(bar *progressbar.ProgressBar, line string) {
	bar.Clear()
	fmt.Fprintln(os.Stderr, line)
}
