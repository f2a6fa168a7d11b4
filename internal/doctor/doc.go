// Package doctor checks a Herald hub from the client's side, through
// whatever sits in front of it (reverse proxies, load balancers, CDNs):
// that events arrive as they are published, uncompressed and with the
// stream's headers, that an idle stream survives, which HTTP version
// browsers get, that a page's origin may subscribe, and that the clocks and
// the probe token agree. Each check ends in a Result with, when it fails,
// the configuration line that fixes it. It backs "herald doctor".
package doctor
