package ssh

import (
	"context"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// ClearAuthorizedKeys removes a temporary public key (an authorized_keys
// line as KeyPair.AuthorizedKey) from the login user's
// ~/.ssh/authorized_keys, and from root's when passwordless sudo allows
// (ssh_clear_authorized_keys). Builders call it after provisioning.
func ClearAuthorizedKeys(ctx context.Context, comm communicator.Communicator, authorizedKey string) error {
	fields := strings.Fields(authorizedKey)
	if len(fields) < 2 {
		return fmt.Errorf("clearing authorized keys: %q is not an authorized_keys line", authorizedKey)
	}
	blob := shellQuote(fields[1]) // base64: unique to the key
	script := `set -e
clear_key() { f="$1"; shift; [ -f "$f" ] || return 0; "$@" sh -c 'grep -vF -- "$1" "$2" > "$2.imgbuild-tmp" || true; cat "$2.imgbuild-tmp" > "$2"; rm -f "$2.imgbuild-tmp"' sh ` + blob + ` "$f"; }
clear_key "$HOME/.ssh/authorized_keys"
if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then clear_key /root/.ssh/authorized_keys sudo -n; fi`
	var stderr tailBuffer
	stderr.max = 2048
	status, err := comm.Run(ctx, &communicator.Cmd{Command: script, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("clearing the temporary key from authorized_keys: %w", err)
	}
	if status != 0 {
		return fmt.Errorf("clearing the temporary key from authorized_keys: exit status %d: %s", status, strings.TrimSpace(stderr.String()))
	}
	return nil
}
