#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include <unistd.h>

#include "config/render.hpp"
#include "config/settings.hpp"

namespace orp::config {
namespace {

TEST(ConfigSettings, DefaultsComeFromTheTable) {
  settings s;
  EXPECT_EQ(s.text("proxy.listen"), "127.0.0.1:8080");
  EXPECT_EQ(s.size("proxy.max_request_body"), 32u * 1024 * 1024);
  EXPECT_DOUBLE_EQ(s.seconds("retry.retry_delay"), 1.0);
  EXPECT_EQ(s.integer("retry.max_retries"), 3);
  EXPECT_EQ(s.list("proxy.intercept_hosts"), std::vector<std::string>{"openrouter.ai"});
  for (const auto& def : all_settings())
    EXPECT_NO_THROW(validate_value(def, def.default_value)) << def.section << "." << def.key;
}

TEST(ConfigSettings, ReadsSectionsCommentsAndFractions) {
  settings s;
  s.load_text("; comment\n# another\n[upstream]\nrequest_timeout = 2.5\n\n[proxy]\nmax_request_body = 1MiB\n"
              "intercept_hosts = a.example , b.example\n",
              "config.ini");
  EXPECT_EQ(s.duration("upstream.request_timeout"), std::chrono::milliseconds(2500));
  EXPECT_EQ(s.size("proxy.max_request_body"), 1024u * 1024);
  EXPECT_EQ(s.list("proxy.intercept_hosts"), (std::vector<std::string>{"a.example", "b.example"}));
}

void expect_error(std::string_view text, std::string_view needle) {
  settings s;
  try {
    s.load_text(text, "config.ini");
    FAIL() << "no error for: " << text;
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ConfigSettings, ErrorsNameFileLineAndSetting) {
  expect_error("[proxy]\nlisten = 127.0.0.1:8080\nlistne = 1\n", "config.ini:3: unknown setting proxy.listne");
  expect_error("[proxyy]\n", "config.ini:1: unknown section [proxyy]");
  expect_error("[retry]\n\nmax_retries = lots\n", "config.ini:3: retry.max_retries = 'lots': expected a whole number");
  expect_error("[retry]\nmax_retries = 1000\n", "config.ini:2: retry.max_retries = '1000': must be between 0 and 100");
  expect_error("[proxy]\nmax_request_body = 3 parsecs\n", "config.ini:2: proxy.max_request_body");
  expect_error("[keys]\nstrategy = fastest\n", "must be one of round_robin|least_used|random");
  expect_error("[proxy]\nlisten = nowhere\n", "config.ini:2: proxy.listen");
  expect_error("listen = 1\n", "config.ini:1: setting outside of a [section]");
  expect_error("[proxy]\njust words\n", "config.ini:2: expected 'key = value'");
  expect_error("[upstream]\napi_url = not a url\n", "upstream.api_url");
  expect_error("[log]\nlevel = loud\n", "log.level");
  expect_error("[proxy]\ntunnel = bogus host\n", "config.ini:2: proxy.tunnel = 'bogus host': bad host name 'bogus host'");
}

TEST(ConfigSettings, TunnelTakesAllNoneOrHostNames) {
  settings s;
  for (const char* value : {"all", "none", "github.com, pypi.org", "10.0.0.1,::1"})
    EXPECT_NO_THROW(s.set("proxy", "tunnel", value, "--set")) << value;
  EXPECT_THROW(s.set("proxy", "tunnel", "github.com,bogus host", "--set"), config_error);
}

TEST(ConfigSettings, OverridesWinAndAreValidated) {
  settings s;
  s.load_text("[proxy]\nworkers = 2\n", "config.ini");
  s.apply_override("proxy.workers=4");
  EXPECT_EQ(s.integer("proxy.workers"), 4);
  EXPECT_THROW(s.apply_override("proxy.workers=-1"), config_error);
  EXPECT_THROW(s.apply_override("proxy.nothing=1"), config_error);
  EXPECT_THROW(s.apply_override("workers=1"), config_error);
  try {
    s.apply_override("retry.retry_delay=soon");
    ADD_FAILURE() << "retry.retry_delay=soon was accepted";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("--set: retry.retry_delay = 'soon'"), std::string::npos) << e.what();
  }
  // A setting that carries a secret is named, its value never repeated.
  try {
    s.apply_override("state.redis_url=redis://:hunter2-secret@");  // no host
    ADD_FAILURE() << "a Redis URL without a host was accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  // A line that is not a setting is quoted back only when it cannot be a key.
  try {
    s.load_text("sk-or-v1-test-0123456789abcdef0123456789abcdef,team\n", "keys.csv");
    ADD_FAILURE() << "a keys.csv line was read as a setting";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()).find("0123456789abcdef"), std::string::npos) << e.what();
  }
}

std::string load_error(const std::filesystem::path& file) {
  settings s;
  try {
    s.load_file(file);
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

// Missing and unreadable are told apart (errno), not "missing or unreadable".
TEST(ConfigSettings, MissingOrUnreadableFileSaysWhich) {
  EXPECT_EQ(load_error("/nonexistent/config.ini"),
            "/nonexistent/config.ini: no such configuration file (--config names it)");
  const auto dir = std::filesystem::temp_directory_path() / ("config_read_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "plain") << "x";
  EXPECT_EQ(load_error(dir / "plain" / "config.ini"),
            (dir / "plain" / "config.ini").string() + ": cannot read the configuration file: Not a directory");
  const auto locked = dir / "config.ini";
  std::ofstream(locked) << "[proxy]\n";
  std::filesystem::permissions(locked, std::filesystem::perms::none);
  if (::geteuid() != 0)  // root reads it all the same
    EXPECT_EQ(load_error(locked), locked.string() + ": cannot read the configuration file: Permission denied");
  std::filesystem::remove_all(dir);
}

TEST(ConfigSettings, ParsersAcceptUnitsAndRefuseJunk) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size("10 MiB"), 10u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024u * 1024 * 1024);
  EXPECT_THROW(parse_size("-1"), std::invalid_argument);
  EXPECT_THROW(parse_size("12 furlongs"), std::invalid_argument);
  EXPECT_DOUBLE_EQ(parse_seconds("0.25"), 0.25);
  EXPECT_DOUBLE_EQ(parse_seconds("3s"), 3);
  EXPECT_THROW(parse_seconds("-2"), std::invalid_argument);
  EXPECT_THROW(parse_seconds("nan"), std::invalid_argument);
  auto ep = parse_endpoint("[::1]:9090");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 9090);
  EXPECT_THROW(parse_endpoint("host:99999"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("host"), std::invalid_argument);
}

TEST(ConfigSettings, LeadingUtf8ByteOrderMarkIsIgnored) {
  settings s;
  s.load_text("\xEF\xBB\xBF[proxy]\nworkers = 3\n", "config.ini");
  EXPECT_EQ(s.integer("proxy.workers"), 3);
  // Only a leading mark is an encoding signature; anywhere else it is a character in the text.
  expect_error("[proxy]\n\xEF\xBB\xBFworkers = 3\n", "config.ini:2");
}

TEST(ConfigSettings, SettingTwiceInOneFileNamesBothLines) {
  expect_error("[proxy]\nworkers = 1\n# more\nworkers = 2\n",
               "config.ini:4: proxy.workers is set twice (first on line 2)");
  expect_error("[retry]\nmax_retries = 1\n[proxy]\nworkers = 1\n[retry]\nmax_retries = 1\n",
               "config.ini:6: retry.max_retries is set twice (first on line 2)");
  settings s;  // the same key name in two sections is two settings
  EXPECT_NO_THROW(s.load_text("[proxy]\nlisten = 127.0.0.1:1\n[admin]\nlisten = 127.0.0.1:2\n", "config.ini"));
  s.apply_override("proxy.workers=2");  // --set overrides the file, and a later --set an earlier one
  s.apply_override("proxy.workers=4");
  EXPECT_EQ(s.integer("proxy.workers"), 4);
}

TEST(ConfigSettings, RangeErrorsWriteBoundsAsTheUserWould) {
  expect_error("[log]\nmax_size = 0\n", "log.max_size = '0': must be between 1KiB and 4GiB");
  expect_error("[proxy]\nmax_body_memory = 0\n", "must be between 1B and 1024GiB");
  expect_error("[proxy]\nmax_connections = 0\n", "must be between 1 and 1000000");
  expect_error("[keys]\nkey_recovery_interval = 0\n", "must be between 1 and 604800");
  expect_error("[proxy]\nheader_timeout = 0\n", "must be between 0.1 and 3600");
}

TEST(ConfigSettings, DirectoryAsConfigFileIsRefused) {
  settings s;
  const auto dir = std::filesystem::temp_directory_path();
  try {
    s.load_file(dir);
    FAIL() << "a directory was read as an empty configuration";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string() + ": is a directory"), std::string::npos) << e.what();
  }
}

// A config file elsewhere (`--config /srv/orp/config.ini`): its relative paths, and the defaults,
// are the files next to it, wherever the command runs; paths given on the command line are the
// shell's, relative to the working directory.
TEST(ConfigSettings, RelativePathsResolveAgainstTheConfigFilesDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / ("orp-config-dir-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "config.ini") << "[keys]\nfile = pool/keys.csv\n[log]\nfile = /var/log/orp.log\n";
  }
  settings s;
  EXPECT_EQ(s.path("tls.ca_cert"), std::filesystem::path("./certs/ca.pem"));  // no file read yet
  s.load_file(dir / "config.ini");
  EXPECT_EQ(s.base_dir(), dir);
  EXPECT_EQ(s.path("keys.file"), dir / "pool/keys.csv");
  EXPECT_EQ(s.path("tls.ca_cert"), dir / "certs/ca.pem");  // a default
  EXPECT_EQ(s.path("keys.state_file"), dir / "data/key_state.json");
  EXPECT_EQ(s.path("log.file"), std::filesystem::path("/var/log/orp.log"));
  s.apply_override("tls.ca_key=my/ca.key");
  s.set("keys", "file", "here.csv", "--keys");
  EXPECT_EQ(s.path("tls.ca_key"), std::filesystem::path("./my/ca.key"));
  EXPECT_EQ(s.path("keys.file"), std::filesystem::path("./here.csv"));
  std::filesystem::remove_all(dir);
}

void expect_combination_error(std::initializer_list<const char*> overrides, std::string_view needle) {
  settings s;
  for (const char* o : overrides) s.apply_override(o);
  try {
    check_combinations(s);
    FAIL() << "no error for: " << *overrides.begin();
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ConfigSettings, CombinationsThatCannotWorkAreRefused) {
  EXPECT_NO_THROW(check_combinations(settings{}));
  expect_combination_error({"retry.retry_delay=3", "retry.max_retry_delay=0.5"},
                           "retry.retry_delay = 3 is larger than retry.max_retry_delay = 0.5");
  expect_combination_error({"retry.max_retry_delay=0.5"}, "retry.retry_delay = 1.0 is larger than");
  expect_combination_error({"proxy.max_request_body=32MiB", "proxy.max_body_memory=16MiB"},
                           "proxy.max_body_memory = 16MiB is smaller than proxy.max_request_body = 32MiB");
  settings equal;
  equal.apply_override("retry.retry_delay=2");
  equal.apply_override("retry.max_retry_delay=2");
  equal.apply_override("proxy.max_body_memory=32MiB");
  EXPECT_NO_THROW(check_combinations(equal));
}

TEST(ConfigSettings, SizesAreWrittenAsAUserWouldWriteThem) {
  EXPECT_EQ(size_text(32ull << 20), "32MiB");
  EXPECT_EQ(size_text(4ull << 30), "4GiB");
  EXPECT_EQ(size_text(1536), "1536B");
  EXPECT_EQ(size_text(600 * 1024), "600KiB");
  EXPECT_EQ(size_text(0), "0B");
}

TEST(ConfigSettings, SourceChangedComparesTheFileWithWhatWasRead) {
  const auto dir = std::filesystem::temp_directory_path() / ("config_source_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "config.ini";
  std::ofstream(file) << "[proxy]\nworkers = 2\n";
  settings s;
  EXPECT_FALSE(s.source_changed());  // nothing read
  s.load_file(file);
  EXPECT_EQ(s.source_file(), file);
  EXPECT_FALSE(s.source_changed());
  std::ofstream(file) << "[proxy]\nworkers = 3\n";
  EXPECT_TRUE(s.source_changed());
  std::ofstream(file) << "[proxy]\nworkers = 2\n";
  EXPECT_FALSE(s.source_changed());
  std::filesystem::remove(file);
  EXPECT_TRUE(s.source_changed());
  std::filesystem::remove_all(dir);
}

TEST(ConfigSettings, AtDefaultTellsAChoiceFromTheDefault) {
  settings s;
  EXPECT_TRUE(s.at_default("proxy.max_connections"));
  s.load_text("[proxy]\nmax_connections = 10000\n", "config.ini");  // the committed config.ini's line
  EXPECT_TRUE(s.at_default("proxy.max_connections"));
  s.apply_override("proxy.max_connections=500");
  EXPECT_FALSE(s.at_default("proxy.max_connections"));
  EXPECT_THROW(s.at_default("proxy.nope"), std::logic_error);
}

// Every row of the Markdown table has its three cells: a | inside a cell is escaped.
TEST(ConfigSettings, MarkdownReferenceEscapesBarsInCells) {
  const std::string md = render_markdown_reference();
  EXPECT_NE(md.find("| `proxy.tunnel` | `all` | all \\| none \\| comma-separated host allow-list |"), std::string::npos)
      << md;
  std::size_t rows = 0;
  for (std::size_t start = 0; start < md.size();) {
    const auto end = md.find('\n', start);
    const std::string_view line(md.data() + start, (end == std::string::npos ? md.size() : end) - start);
    start = end == std::string::npos ? md.size() : end + 1;
    if (!line.starts_with("| `")) continue;
    ++rows;
    std::size_t bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++bars;
    EXPECT_EQ(bars, 4u) << line;
  }
  EXPECT_EQ(rows, all_settings().size());
}

// The committed config.ini and docs/configuration.md are renderings of the table.
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ConfigSettings, CommittedConfigIniMatchesTheTable) {
  EXPECT_EQ(read_file(std::string(ORP_SOURCE_DIR) + "/config.ini"), render_default_ini())
      << "regenerate with: build/openrouter-proxy config defaults > config.ini";
  EXPECT_EQ(read_file(std::string(ORP_SOURCE_DIR) + "/docs/configuration.md"), render_markdown_reference())
      << "regenerate with: build/openrouter-proxy config reference > docs/configuration.md";
  settings s;
  EXPECT_NO_THROW(s.load_text(render_default_ini(), "config.ini"));
}

}  // namespace
}  // namespace orp::config
