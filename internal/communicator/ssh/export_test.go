package ssh

import "time"

// SetMinKeepAliveGrace shortens the wait for a keep-alive's answer for one
// test; the returned function restores it.
func SetMinKeepAliveGrace(d time.Duration) (restore func()) {
	old := minKeepAliveGrace
	minKeepAliveGrace = d
	return func() { minKeepAliveGrace = old }
}
