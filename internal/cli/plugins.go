package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/imgbuild/imgbuild/internal/pluginhost/installed"
	"github.com/imgbuild/imgbuild/internal/pluginhost/releases"
	"github.com/imgbuild/imgbuild/internal/template"
)

func init() { register(newPluginsCmd) }

// pluginOptions says where installed Packer plugins are looked for, for a
// template in templateDir ("" outside a template).
func pluginOptions(templateDir string) installed.Options {
	env := os.Environ()
	wd, _ := os.Getwd()
	return installed.Options{
		TemplateDir:   templateDir,
		WorkDir:       wd,
		Env:           env,
		DescribeCache: installed.DefaultDescribeCache(env),
	}
}

func newPluginsCmd(s *Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List, install and remove external Packer plugins",
		Long: "imgbuild runs the Packer plugins a user installed for the component types it\n" +
			"does not have built in. These commands manage them as `packer plugins` does,\n" +
			"in the same folders (PACKER_PLUGIN_PATH, or the plugins folder of Packer's\n" +
			"configuration directory), so Packer and imgbuild share one installation.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newPluginsInstalledCmd(s), newPluginsInstallCmd(s), newPluginsRemoveCmd(s), newPluginsRequiredCmd(s))
	return cmd
}

func newPluginsInstalledCmd(s *Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "installed",
		Short: "List the installed plugin binaries whose checksums match",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, warnings, err := installed.List(pluginOptions(""), "", "")
			if err != nil {
				return err
			}
			printWarnings(s.Err, warnings)
			for _, in := range list {
				fmt.Fprintln(s.Out, in.Path)
			}
			return nil
		},
	}
}

func newPluginsInstallCmd(s *Streams) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "install [--path BINARY] SOURCE [VERSION]",
		Short: "Install a plugin from a local binary (--path) or from its releases",
		Long: "With --path, the binary is asked what it is (`describe`), checked to speak\n" +
			"plugin protocol " + installed.APIVersion + ", and copied into the plugin folder as SOURCE at the\n" +
			"version it reports, with its _SHA256SUM file. Without --path, the newest release\n" +
			"of SOURCE meeting VERSION is downloaded from GitHub, as `imgbuild init` does.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := pluginOptions("")
			if path == "" {
				constraint := ""
				if len(args) == 2 {
					constraint = args[1]
				}
				return installFromReleases(cmd, s, opts, args[0], constraint)
			}
			if len(args) != 1 {
				return fmt.Errorf("with --path, give only the plugin's source (the version is the binary's own)")
			}
			p, err := installed.Install(cmd.Context(), opts, path, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Installed plugin %s v%s from %s in %s\n", p.Source, p.Version, path, p.Path)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "install this local plugin binary instead of downloading one")
	return cmd
}

func newPluginsRemoveCmd(s *Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "remove SOURCE [VERSION]",
		Short: "Remove installed plugin binaries (all versions, or those meeting VERSION)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			constraint := ""
			if len(args) == 2 {
				constraint = args[1]
			}
			removed, err := installed.Remove(pluginOptions(""), args[0], constraint)
			for _, p := range removed {
				fmt.Fprintln(s.Out, p)
			}
			return err
		},
	}
}

func newPluginsRequiredCmd(s *Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "required TEMPLATE",
		Short: "List a template's required plugins and the installed binaries that meet each",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, diags := template.Load(cmd.Context(), template.LoadOptions{Path: args[0], SyntaxOnly: true})
			errs := onlyErrors(append(diags, t.PluginRequirementErrors()...))
			writeDiagnostics(s.Err, t.Files(), errs)
			if errs.HasErrors() {
				return exitCode(1)
			}
			reqs := t.RequiredPlugins()
			if len(reqs) == 0 {
				fmt.Fprintln(s.Out, "The template has no required_plugins block (packer { required_plugins { ... } }).")
				return nil
			}
			opts := pluginOptions(t.Dir())
			for _, rp := range reqs {
				list, warnings, err := installed.List(opts, rp.Source, rp.Version)
				if err != nil {
					return err
				}
				printWarnings(s.Err, warnings)
				line := fmt.Sprintf("%s %s %q", rp.Name, rp.Source, rp.Version)
				for _, in := range list {
					line += " " + in.Path
				}
				if len(list) == 0 && rp.BuiltIn {
					line += " (built into imgbuild)"
				}
				fmt.Fprintln(s.Out, line)
			}
			return nil
		},
	}
}

func onlyErrors(diags hcl.Diagnostics) hcl.Diagnostics {
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}

func printWarnings(w io.Writer, warnings []string) {
	for _, msg := range warnings {
		fmt.Fprintln(w, "Warning: "+strings.TrimSpace(msg))
	}
}

// installFromReleases installs the newest GitHub release of source that
// meets constraint, as `imgbuild init` does for a template.
func installFromReleases(cmd *cobra.Command, s *Streams, opts installed.Options, source, constraint string) error {
	getter := newReleaseGetter()
	p, err := getter.Install(cmd.Context(), installed.InstallFolder(opts), source, constraint)
	if errors.Is(err, releases.ErrUnreachable) {
		return fmt.Errorf("%w\nWithout network access, copy the plugin's release binary here and run\n  imgbuild plugins install --path BINARY %s", err, source)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Installed plugin %s v%s in %q\n", p.Source, p.Version, p.Path)
	return nil
}

// newReleaseGetter fetches plugin releases from GitHub; tests point it at
// a stand-in for GitHub.
var newReleaseGetter = func() *releases.Getter {
	return &releases.Getter{Token: os.Getenv("PACKER_GITHUB_API_TOKEN")}
}
