// Command vcsim serves VMware's vCenter simulator (the simulator package of
// govmomi) for imgbuild's tests of the vsphere plugin, and lists what the
// simulator holds so that tests can check a build's effect without govmomi
// in imgbuild's own go.mod.
//
//	vcsim [-listen 127.0.0.1:0]   serve; prints the SDK URL (with the login) on
//	                              the first line of stdout, stops on SIGTERM,
//	                              SIGINT, or when its parent process dies
//	vcsim vms URL                 lists every VM: inventory path, a tab, and
//	                              "template" or "vm"
//
// The inventory is the default vCenter model: datacenter DC0, cluster
// DC0_C0, hosts DC0_H0 and DC0_C0_H0..2, VMs such as DC0_H0_VM0, datastore
// LocalDS_0; the login is user/pass.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "vms" {
		if len(os.Args) != 3 {
			fail("usage: vcsim vms URL")
		}
		if err := listVMs(os.Args[2]); err != nil {
			fail("listing VMs: %v", err)
		}
		return
	}
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	flag.Parse()
	if err := serve(*listen); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(1)
}

func serve(listen string) error {
	// Die with the test process that started us, even after kill -9: the
	// kernel sends SIGTERM when the parent goes. A parent that died before
	// the prctl call left us with another parent already.
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %v", errno)
	}
	if os.Getppid() != parent {
		return fmt.Errorf("parent process %d exited before the simulator started", parent)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	model := simulator.VPX()
	// Remove deletes the folders the model makes for its datastores.
	defer model.Remove()
	if err := model.Create(); err != nil {
		return fmt.Errorf("creating the vCenter model: %w", err)
	}
	model.Service.Listen = &url.URL{Host: listen}
	model.Service.TLS = new(tls.Config)
	server := model.Service.NewServer()
	defer server.Close()

	fmt.Println(server.URL.String())
	<-signals
	return nil
}

func listVMs(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return fmt.Errorf("logging in: %w", err)
	}
	defer client.Logout(context.Background())
	finder := find.NewFinder(client.Client)
	vms, err := finder.VirtualMachineList(ctx, "/...")
	if err != nil {
		return err
	}
	for _, vm := range vms {
		isTemplate, err := vm.IsTemplate(ctx)
		if err != nil {
			return fmt.Errorf("reading %s: %w", vm.InventoryPath, err)
		}
		kind := "vm"
		if isTemplate {
			kind = "template"
		}
		fmt.Printf("%s\t%s\n", vm.InventoryPath, kind)
	}
	return nil
}
