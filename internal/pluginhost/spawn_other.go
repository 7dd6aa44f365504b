//go:build !linux

package pluginhost

import "os/exec"

// startTied starts cmd. Outside Linux there is no parent-death signal: a
// plugin outlives a killed imgbuild until its connection breaks.
func startTied(cmd *exec.Cmd) error { return cmd.Start() }

// killGroup is a no-op outside Linux; the process itself is killed.
func killGroup(pid int) {}
