// Package browsertest starts a real headless Chromium for tests, driven
// with chromedp: Debian's chromium package, never a downloaded browser.
package browsertest
