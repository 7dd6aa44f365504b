package cli

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/pluginhost/releases"
	"github.com/imgbuild/imgbuild/internal/template"
)

func init() { register(newInitCmd) }

func newInitCmd(s *Streams) *cobra.Command {
	var upgrade bool
	cmd := &cobra.Command{
		Use:   "init [flags] PATH",
		Short: "Install the plugins a template's required_plugins block names",
		Long: "init installs, from their GitHub releases, the plugins of the template's\n" +
			"required_plugins block that no installed version meets (all of them again with\n" +
			"-upgrade), into the folder `imgbuild plugins installed` lists from. Plugins that\n" +
			"imgbuild has built in (amazon, docker, qemu) need no installation. Without\n" +
			"network access it names each missing plugin and how to install it offline.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, diags := template.Load(cmd.Context(), template.LoadOptions{Path: args[0], SyntaxOnly: true})
			errs := onlyErrors(append(diags, t.PluginRequirementErrors()...)) // missing variable values do not matter to init
			writeDiagnostics(s.Err, t.Files(), errs)
			if errs.HasErrors() {
				return exitCode(1)
			}
			opts := pluginOptions(t.Dir())
			plugins, warnings, err := installed.Discover(cmd.Context(), opts)
			if err != nil {
				return err
			}
			printWarnings(s.Err, warnings)
			getter := newReleaseGetter()
			folder := installed.InstallFolder(opts)
			var missing []*template.RequiredPlugin
			var unreachable error
			for _, rp := range t.RequiredPlugins() {
				have := installedMeeting(plugins, rp)
				switch {
				case have != nil && !upgrade:
					fmt.Fprintf(s.Out, "%s v%s is installed (%s)\n", rp.Source, have.Version, have.Path)
					continue
				case have == nil && rp.BuiltIn && !upgrade:
					fmt.Fprintf(s.Out, "%s is built into imgbuild\n", rp.Source)
					continue
				case unreachable != nil:
					missing = append(missing, rp)
					continue
				}
				p, err := getter.Install(cmd.Context(), folder, rp.Source, rp.Version)
				switch {
				case err == nil:
					fmt.Fprintf(s.Out, "Installed plugin %s v%s in %q\n", p.Source, p.Version, p.Path)
				case have != nil || rp.BuiltIn:
					fmt.Fprintf(s.Err, "Warning: could not upgrade %s: %v\n", rp.Source, err)
				case errors.Is(err, releases.ErrUnreachable):
					unreachable = err
					missing = append(missing, rp)
				default:
					fmt.Fprintf(s.Err, "Error: installing %s: %v\n", rp.Source, err)
					missing = append(missing, rp)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			if unreachable != nil {
				fmt.Fprintf(s.Err, "\nCould not reach GitHub to download plugins: %v\n", errors.Unwrap(unreachable))
			}
			fmt.Fprintf(s.Err, "\nThese required plugins are not installed:\n")
			for _, rp := range missing {
				fmt.Fprintf(s.Err, "  * %s %s\n", rp.Source, rp.Version)
			}
			fmt.Fprintf(s.Err, "\nTo install one without network access, copy its release for %s_%s from a machine\n"+
				"that has it (https://github.com/NAMESPACE/packer-plugin-NAME/releases), unzip it, and run\n", runtime.GOOS, runtime.GOARCH)
			for _, rp := range missing {
				src, err := installed.ParseSource(rp.Source)
				if err != nil {
					continue
				}
				fmt.Fprintf(s.Err, "  imgbuild plugins install --path ./packer-plugin-%s_vVERSION_%s_%s_%s %s\n", src.Name, installed.APIVersion, runtime.GOOS, runtime.GOARCH, rp.Source)
			}
			return exitCode(1)
		},
	}
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "install the newest release meeting each constraint even when one is installed")
	return cmd
}

// installedMeeting is the highest installed version of rp's source that
// meets its constraint, or nil.
func installedMeeting(plugins []*installed.Plugin, rp *template.RequiredPlugin) *installed.Plugin {
	p, _ := installed.Choose(plugins, installed.Requirement{LocalName: rp.Name, Source: rp.Source, Constraint: rp.Version, BuiltIn: true})
	return p
}
