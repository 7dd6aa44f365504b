package shell

import (
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestMain removes the imgbuild binary the end-to-end tests built.
func TestMain(m *testing.M) { testenv.Main(m) }
