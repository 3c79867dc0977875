// Commands (run, ca, env, keys): the command line only; the work lives in app/.
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/commands.hpp"
#include "app/run.hpp"
#include "config/render.hpp"
#include "config/settings.hpp"
#include "util/allocator.hpp"
#include "util/error_text.hpp"

#ifdef ORP_HAVE_MIMALLOC
#include <mimalloc.h>

#include <cstdlib>
#endif

namespace {

struct common_options {
  std::string config_file = "config.ini";
  bool config_given = false;
  std::vector<std::string> overrides;
  std::string listen;
  std::string keys;
};

// The options of every command that reads the settings. Each such command has them itself, so that
// its --help lists them; they may come before its name too (`--config F run`), where the top level
// takes them. Both fill the same options: --set collects from both places.
void add_common(CLI::App& app, common_options& o) {
  app.add_option_function<std::string>(
      "--config",
      [&o](const std::string& file) {
        o.config_file = file;
        o.config_given = true;
      },
      "settings file (default config.ini)");
  app.add_option_function<std::vector<std::string>>(
         "--set",
         [&o](const std::vector<std::string>& v) { o.overrides.insert(o.overrides.end(), v.begin(), v.end()); },
         "override a setting: SECTION.KEY=VALUE (repeatable)")
      ->take_all();
  app.add_option_function<std::string>(
      "--listen", [&o](const std::string& v) { o.listen = v; }, "shortcut for --set proxy.listen=HOST:PORT");
  app.add_option_function<std::string>("--keys", [&o](const std::string& v) { o.keys = v; },
                                       "shortcut for --set keys.file=PATH");
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return out;
}

// CLI11 keeps the words it did not know (allow_extras) instead of saying "A subcommand is required"
// or listing them backwards; this names the first, with what the command given expects. Empty
// when the command line is complete.
std::string command_line_problem(CLI::App& app) {
  CLI::App* at = &app;  // the deepest command given
  std::string path;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    path += (path.empty() ? "" : " ") + at->get_name();
  }
  std::vector<std::string> commands;
  for (const auto* sub : at->get_subcommands([](const CLI::App*) { return true; })) commands.push_back(sub->get_name());
  const std::string where = path.empty() ? "" : path + ": ";
  const auto extras = app.remaining(true);
  if (!extras.empty()) {
    const std::string& word = extras.front();
    if (word.starts_with('-')) return where + "unknown option " + word;
    if (!commands.empty()) return where + "unknown command '" + word + "' (expected " + joined(commands) + ")";
    return where + "unexpected argument '" + word + "'";
  }
  // A group without its command: `keys`, `ca`, `config`.
  if (at != &app && !commands.empty()) return path + " needs a command: " + joined(commands);
  return {};
}

// config.ini is optional when it was not named; a named file must exist.
orp::config::settings load_settings(const common_options& o) {
  orp::config::settings s;
  if (o.config_given || std::filesystem::exists(o.config_file)) s.load_file(o.config_file);
  for (const auto& ov : o.overrides) s.apply_override(ov);
  if (!o.listen.empty()) s.set("proxy", "listen", o.listen, "--listen");
  if (!o.keys.empty()) s.set("keys", "file", o.keys, "--keys");
  return s;
}

#ifdef ORP_HAVE_MIMALLOC
// Linking mimalloc replaces malloc for the whole process (OpenSSL's record buffers included) only
// if the dynamic linker finds its symbols before the C library's: checked here on a real block
// rather than assumed from the build. When it is mimalloc, heap trims after a burst are its own
// collection of the calling thread's heap (util/allocator.hpp).
void note_allocator() {
  void* block = std::malloc(64);
  const bool ours = mi_is_in_heap_region(block);
  std::free(block);
  if (!ours) {
    orp::util::set_allocator_name("glibc malloc (mimalloc linked but not in use)");
    return;
  }
  const int v = mi_version();
  orp::util::set_allocator_name("mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
                                std::to_string(v % 10));
  orp::util::set_heap_trim([] { mi_collect(true); });
}
#endif

}  // namespace

static int run_command(int argc, char** argv) {
  CLI::App app{"openrouter-proxy: one pool of OpenRouter keys for every tool, via HTTPS_PROXY"};
#ifdef ORP_HAVE_MIMALLOC
  note_allocator();
#endif
  app.set_version_flag("--version",
                       std::string("openrouter-proxy ") + ORP_VERSION + " (allocator: " + orp::util::allocator_name() + ")");
  common_options common;
  add_common(app, common);
  // Every command's own words go to command_line_problem(): subcommands inherit this.
  app.allow_extras();
  std::string ready_file;

  auto* run = app.add_subcommand("run", "serve (the default command)");
  run->add_option("--ready-file", ready_file, "write the bound addresses as JSON here once listening");
  auto* ca = app.add_subcommand("ca", "the local certificate authority");
  auto* ca_init = ca->add_subcommand("init", "create the CA if missing (idempotent)");
  bool force = false;
  ca_init->add_flag("--force", force, "make a new CA even if one exists");
  auto* ca_path = ca->add_subcommand("path", "print the CA certificate's path");
  auto* env = app.add_subcommand("env", "print the exports a client needs (proxy URL, CA trust)");
  std::string shell = "sh";
  // bash and zsh read sh's exports as they are.
  env->add_option("--shell", shell, "sh | bash | zsh | fish | powershell")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            for (const char* known : {"sh", "bash", "zsh", "fish", "powershell"})
              if (v == known) return {};
            return "unknown shell '" + v + "': expected sh, bash, zsh, fish or powershell";
          },
          "SHELL"));
  auto* keys_cmd = app.add_subcommand("keys", "the key pool");
  auto* keys_check = keys_cmd->add_subcommand("check", "probe every key against the upstream and print a table");
  auto* keys_status = keys_cmd->add_subcommand("status", "the running proxy's key table (admin endpoint)");
  auto* config_cmd = app.add_subcommand("config", "print the documented settings");
  auto* config_defaults = config_cmd->add_subcommand("defaults", "a config.ini with every setting and its default");
  auto* config_reference = config_cmd->add_subcommand("reference", "the settings as a Markdown table");
  // The commands that read the settings take the common options themselves; options of the top
  // level may follow a command name too (fallthrough).
  for (auto* sub : {run, ca_init, ca_path, env, keys_check, keys_status}) add_common(*sub, common);
  for (auto* sub : {run, ca, ca_init, ca_path, env, keys_cmd, keys_check, keys_status}) sub->fallthrough();
  app.fallthrough();
  // The settings table closes the help of `run` (and of the top level, which runs it); the other
  // commands point to it rather than repeating it.
  app.footer(orp::config::render_help_footer());
  run->footer(orp::config::render_help_footer());
  for (auto* sub : {ca_init, ca_path, env, keys_check, keys_status})
    sub->footer("Settings come from config.ini and --set; every setting with its default: "
                "openrouter-proxy config reference (or run --help).");
  keys_check->footer(std::string(orp::app::kKeysCheckExitCodes) + "\n" + keys_check->get_footer());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // CLI11's own messages, said like every other error of the program's.
    std::cerr << "openrouter-proxy: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  }
  if (auto problem = command_line_problem(app); !problem.empty()) {
    std::cerr << "openrouter-proxy: " << problem << "\nRun with --help for more information.\n";
    return 2;
  }

  if (*config_defaults) {
    std::cout << orp::config::render_default_ini();
    return 0;
  }
  if (*config_reference) {
    std::cout << orp::config::render_markdown_reference();
    return 0;
  }

  orp::config::settings cfg;
  try {
    cfg = load_settings(common);
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: " << e.what() << "\n";
    return 2;
  }

  if (*ca_path) return orp::app::ca_path(cfg);
  if (*ca_init) return orp::app::ca_init(cfg, force);
  if (*env) return orp::app::print_env(cfg, shell);
  if (*keys_check) return orp::app::keys_check(cfg);
  if (*keys_status) return orp::app::keys_status(cfg);
  return orp::app::run(cfg, orp::app::run_options{ready_file});
}

// Every command reports its own errors (one line, exit code 2 for bad input); this is the net for
// what none of them expected, so that it still ends with a line instead of std::terminate's abort.
int main(int argc, char** argv) {
  try {
    return run_command(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "openrouter-proxy: unexpected error: " << orp::util::error_text(e) << "\n";
  } catch (...) {
    std::cerr << "openrouter-proxy: unexpected error\n";
  }
  return 1;
}
