#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/file_checks.hpp"
#include "support/scratch_dir.hpp"

namespace orp::app {
namespace {

namespace fs = std::filesystem;

// Settings whose files all live, distinct, in `dir`; a test then points one at another.
config::settings distinct_files(const fs::path& dir) {
  config::settings s;
  s.set("keys", "file", (dir / "keys.csv").string(), "--set");
  s.set("keys", "state_file", (dir / "data" / "key_state.json").string(), "--set");
  s.set("log", "file", (dir / "proxy.log").string(), "--set");
  s.set("tls", "ca_cert", (dir / "certs" / "ca.pem").string(), "--set");
  s.set("tls", "ca_key", (dir / "certs" / "ca.key").string(), "--set");
  return s;
}

std::string refusal(const config::settings& s) {
  try {
    check_distinct_files(s);
  } catch (const config::config_error& e) {
    return e.what();
  }
  return {};
}

TEST(FileChecks, DistinctFilesPass) {
  test::scratch_dir dir;
  EXPECT_EQ(refusal(distinct_files(dir.path())), "");
}

TEST(FileChecks, StateFileOnTheKeysFileIsRefusedNamingBoth) {
  test::scratch_dir dir;
  auto s = distinct_files(dir.path());
  s.set("keys", "state_file", (dir.path() / "keys.csv").string(), "--set");
  const auto why = refusal(s);
  EXPECT_NE(why.find("keys.state_file"), std::string::npos) << why;
  EXPECT_NE(why.find("keys.file"), std::string::npos) << why;
  EXPECT_NE(why.find("same file"), std::string::npos) << why;
}

TEST(FileChecks, PathsAreComparedResolved) {
  test::scratch_dir dir;
  fs::create_directories(dir.path() / "certs");
  auto s = distinct_files(dir.path());
  s.set("tls", "ca_key", (dir.path() / "data" / ".." / "certs" / "ca.pem").string(), "--set");
  EXPECT_NE(refusal(s).find("tls.ca_key"), std::string::npos);
}

TEST(FileChecks, SymlinkAndHardLinkAreTheSameFile) {
  test::scratch_dir dir;
  std::ofstream(dir.path() / "keys.csv") << "key\n";
  fs::create_symlink(dir.path() / "keys.csv", dir.path() / "via-symlink");
  fs::create_hard_link(dir.path() / "keys.csv", dir.path() / "via-hard-link");
  auto s = distinct_files(dir.path());
  s.set("log", "file", (dir.path() / "via-symlink").string(), "--set");
  EXPECT_NE(refusal(s).find("log.file"), std::string::npos);
  s = distinct_files(dir.path());
  s.set("log", "file", (dir.path() / "via-hard-link").string(), "--set");
  EXPECT_NE(refusal(s).find("log.file"), std::string::npos);
}

TEST(FileChecks, TheConfigurationFileCountsToo) {
  test::scratch_dir dir;
  const fs::path ini = dir.path() / "config.ini";
  std::ofstream(ini) << "[log]\nfile = config.ini\n";
  config::settings s;
  s.load_file(ini);
  const auto why = refusal(s);
  EXPECT_NE(why.find("the configuration file"), std::string::npos) << why;
  EXPECT_NE(why.find("log.file"), std::string::npos) << why;
}

TEST(FileChecks, TheCaCertificateMustNotBeTheClientsBundle) {
  test::scratch_dir dir;
  auto s = distinct_files(dir.path());
  s.set("tls", "ca_cert", (dir.path() / "certs" / "bundle.pem").string(), "--set");
  EXPECT_NE(refusal(s).find("bundle"), std::string::npos);
}

TEST(FileChecks, TwoFilesOnlyReadMayBeOne) {
  test::scratch_dir dir;
  auto s = distinct_files(dir.path());
  s.set("upstream", "ca_file", (dir.path() / "keys.csv").string(), "--set");
  EXPECT_EQ(refusal(s), "");
}

}  // namespace
}  // namespace orp::app
