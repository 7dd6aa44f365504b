package pluginhost

import (
	"errors"
	"net/rpc"

	sdkrpc "github.com/hashicorp/packer-plugin-sdk/rpc"
)

// isRemote reports whether err is an error the plugin itself returned, as
// opposed to a broken connection.
func isRemote(err error) bool {
	var se rpc.ServerError
	var be *sdkrpc.BasicError
	return errors.As(err, &se) || errors.As(err, &be)
}

// remoteMessage strips the RPC wrapping from an error the plugin returned.
func remoteMessage(err error) error {
	var se rpc.ServerError
	if errors.As(err, &se) {
		return errors.New(string(se))
	}
	var be *sdkrpc.BasicError
	if errors.As(err, &be) {
		return errors.New(be.Message)
	}
	return err
}
