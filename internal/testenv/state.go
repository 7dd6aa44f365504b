package testenv

import "os"

// StateDir is where scripts/test-setup.sh keeps what it builds and caches
// (plugin binaries, the Ansible venv, the simulator, Debian images):
// $IMGBUILD_TEST_STATE, or /var/lib/imgbuild-test.
func StateDir() string {
	if d := os.Getenv("IMGBUILD_TEST_STATE"); d != "" {
		return d
	}
	return "/var/lib/imgbuild-test"
}
