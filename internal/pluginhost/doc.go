// Package pluginhost runs external Packer plugins (API x5.0) for imgbuild:
// it finds their binaries, starts them, and adapts the components they serve
// to the interfaces of internal/plugin, using packer-plugin-sdk's rpc
// package as the host side, as Packer core does.
package pluginhost

import sdkrpc "github.com/hashicorp/packer-plugin-sdk/rpc"

// The host side of the protocol is the SDK's rpc client.
var _ = sdkrpc.NewClient
