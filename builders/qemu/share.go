package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/builders/qemu/qcow"
	"github.com/imgbuild/imgbuild/internal/cache"
)

// A qemu checkpoint travels (-cache-url) as its qcow2 layer ("layer") and,
// when there is one, the disk as it was after the shutdown that followed
// it ("final", an overlay on the layer), so that a runner that downloads
// every step boots no VM. Both name their backing files by absolute path
// on the machine that made them: Install points them at this machine's
// files (qemu-img rebase -u changes the header only).
//
// With the store's SharesStates (build -cache-share-vm-states), a
// checkpoint's saved VM state travels too ("vmstate", compressed as it is
// kept, and "vmstate-info", the machine it fits), so that a rebuild on
// another runner resumes the VM instead of booting it; a runner whose
// QEMU or accelerator differs still boots (usableState). A runner
// downloads only the state of the deepest checkpoint it pulls, the one it
// resumes from, and none without SharesStates (Wants): states stay local
// unless asked for.
type layerPorter struct{}

// The roles of a shared VM state.
const (
	roleState     = "vmstate"
	roleStateInfo = "vmstate-info"
)

func init() { cache.RegisterPorter("qemu", layerPorter{}) }

var _ cache.Stacker = layerPorter{}

func (layerPorter) StacksOnParent() {}

var _ cache.Chooser = layerPorter{}

// Wants leaves VM states out unless this runner shares them, and then
// takes only the deepest checkpoint's: a rebuild resumes from that one.
func (layerPorter) Wants(s *cache.Store, role string, deepest bool) bool {
	if role == roleState || role == roleStateInfo {
		return s.SharesStates() && deepest
	}
	return true
}

func (layerPorter) Files(ctx context.Context, s *cache.Store, e cache.Entry) (map[string]string, func(), error) {
	if _, err := os.Stat(e.Ref); err != nil {
		return nil, nil, fmt.Errorf("the layer of checkpoint %s: %w", e.Key.Short(), err)
	}
	files := map[string]string{"layer": e.Ref}
	if final := finalPath(e.Ref); fileExists(final) {
		files["final"] = final
	}
	// Only a complete state: its info file is written last. One still
	// being compressed (the checkpoint was just made) is waited for.
	if s.SharesStates() {
		if err := compressions.wait(ctx, e.Ref); err != nil {
			return nil, nil, err
		}
	}
	if s.SharesStates() && fileExists(stateInfoFile(e.Ref)) && fileExists(stateFile(e.Ref)) {
		files[roleState], files[roleStateInfo] = stateFile(e.Ref), stateInfoFile(e.Ref)
	}
	return files, nil, nil
}

func (layerPorter) Install(ctx context.Context, s *cache.Store, e, parent cache.Entry, files map[string]string) (string, error) {
	defer func() {
		for _, f := range files {
			os.Remove(f)
		}
	}()
	tmp, ok := files["layer"]
	if !ok {
		return "", errors.New("the shared checkpoint has no layer")
	}
	backing := ""
	if e.Parent != "" {
		if parent.Key != e.Parent || parent.Builder != "qemu" {
			return "", fmt.Errorf("checkpoint %s needs %s under it", e.Key.Short(), e.Parent.Short())
		}
		// A layer holds the blocks its step changed on one particular
		// copy of the parent: another runner's copy has other bytes.
		if e.ParentRef != filepath.Base(parent.Ref) {
			return "", cache.ErrDiverged
		}
		backing = parent.Ref
	}
	if err := rebase(ctx, tmp, backing); err != nil {
		return "", err
	}
	// Keep the writer's name: it is the layer's identity, which the
	// layers made on it name as their parent.
	layer := filepath.Join(s.DataDir(), e.Ref)
	if !layerName.MatchString(e.Ref) || !strings.HasPrefix(e.Ref, string(e.Key)+"-") || strings.HasSuffix(e.Ref, ".final.qcow2") {
		return "", fmt.Errorf("checkpoint %s names its layer %q", e.Key.Short(), e.Ref)
	}
	if err := os.Rename(tmp, layer); err != nil {
		return "", err
	}
	delete(files, "layer")
	if final, ok := files["final"]; ok {
		// Without it a fully cached rebuild boots the VM once to shut it
		// down: slower, still right, so a failure here is not fatal.
		if rebase(ctx, final, layer) == nil && os.Rename(final, finalPath(layer)) == nil {
			delete(files, "final")
		}
	}
	if s.SharesStates() {
		// Without it the rebuild boots: slower, still right.
		if installState(layer, files[roleState], files[roleStateInfo]) == nil {
			delete(files, roleState)
			delete(files, roleStateInfo)
		}
	}
	return layer, nil
}

// installState puts a downloaded VM state beside its layer: the state,
// then its info, which makes it usable (a well-formed one only; whether
// it fits this machine is decided when a rebuild would resume from it).
func installState(layer, state, info string) error {
	if state == "" || info == "" {
		return errors.New("no VM state shared with this checkpoint")
	}
	raw, err := os.ReadFile(info)
	if err != nil {
		return err
	}
	var si stateInfo
	if err := json.Unmarshal(raw, &si); err != nil || si.Machine == "" {
		return fmt.Errorf("the shared VM state's description is unreadable")
	}
	if err := os.Rename(state, stateFile(layer)); err != nil {
		return err
	}
	if err := os.Rename(info, stateInfoFile(layer)); err != nil {
		_ = removeState(layer)
		return err
	}
	return nil
}

// rebase points a qcow2 file at another backing file ("" for none)
// without touching its data: the content is the same, only the path differs.
func rebase(ctx context.Context, file, backing string) error {
	args := []string{"rebase", "-u", "-f", "qcow2", "-b", backing}
	if backing != "" {
		args = append(args, "-F", "qcow2")
	}
	if err := qcow.QemuImg(ctx, append(args, file)...); err != nil {
		return fmt.Errorf("pointing the downloaded layer at its backing file: %w", err)
	}
	return nil
}
