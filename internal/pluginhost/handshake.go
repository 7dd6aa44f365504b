package pluginhost

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// The protocol version imgbuild speaks: plugins built with
// packer-plugin-sdk for API x5.0. A plugin of a later minor version may
// use calls imgbuild does not know.
const (
	apiMajor = 5
	apiMinor = 0
)

// maxHandshakeLine bounds what is read while waiting for the handshake, so
// that a binary that prints without end cannot exhaust memory.
const maxHandshakeLine = 4096

// readHandshake reads the first line a plugin prints on stdout.
func readHandshake(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxHandshakeLine {
			return "", fmt.Errorf("it printed more than %d bytes without a line break instead of the plugin protocol's handshake", maxHandshakeLine)
		}
		switch {
		case err == nil:
			return strings.TrimSpace(string(line)), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 {
				return "", errors.New("it closed its output without printing the plugin protocol's handshake")
			}
			return strings.TrimSpace(string(line)), nil
		default:
			return "", err
		}
	}
}

// parseHandshake checks a handshake line, "5|0|unix|/tmp/packer-plugin123",
// and returns where to connect.
func parseHandshake(line string) (network, address string, err error) {
	parts := strings.SplitN(line, "|", 4)
	switch {
	case len(parts) == 3:
		return "", "", errors.New("it speaks the plugin protocol of Packer before 1.7 (version 4), which imgbuild does not; install a newer release of the plugin")
	case len(parts) != 4:
		return "", "", fmt.Errorf("it printed %q instead of the plugin protocol's handshake (is it a Packer plugin?)", truncate(line, 120))
	}
	major, errMajor := strconv.Atoi(parts[0])
	minor, errMinor := strconv.Atoi(parts[1])
	if errMajor != nil || errMinor != nil {
		return "", "", fmt.Errorf("its handshake %q has no protocol version", truncate(line, 120))
	}
	if major != apiMajor || minor > apiMinor {
		return "", "", fmt.Errorf("it speaks plugin protocol x%d.%d; imgbuild speaks x%d.%d (use a release of the plugin built for Packer 1.7 to 1.9)", major, minor, apiMajor, apiMinor)
	}
	network, address = parts[2], parts[3]
	switch network {
	case "unix":
		if _, err := net.ResolveUnixAddr(network, address); err != nil {
			return "", "", fmt.Errorf("its handshake names a bad socket %q: %w", address, err)
		}
	case "tcp":
		if _, err := net.ResolveTCPAddr(network, address); err != nil {
			return "", "", fmt.Errorf("its handshake names a bad address %q: %w", address, err)
		}
	default:
		return "", "", fmt.Errorf("its handshake names an unknown network %q", network)
	}
	return network, address, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
