#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "util/atomic_file.hpp"

namespace fs = std::filesystem;

namespace {

class UtilAtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("orp-atomic-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
};

TEST_F(UtilAtomicFile, ReplacesContentAndLeavesNoTemporary) {
  auto file = dir_ / "sub" / "f.txt";
  orp::util::write_file_atomically(file, "first\n");
  orp::util::write_file_atomically(file, "second\n");
  EXPECT_EQ(read(file), "second\n");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(file.parent_path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"f.txt"});
  struct stat st {};
  ASSERT_EQ(::stat(file.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // created directories are private
}

TEST_F(UtilAtomicFile, ModeIsApplied) {
  auto file = dir_ / "key.pem";
  orp::util::write_file_atomically(file, "secret", 0600);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  orp::util::write_file_atomically(file, "public", 0644);
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(UtilAtomicFile, UnwritableLocationNamesTheFile) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "not-a-dir") << "x";
  try {
    orp::util::write_file_atomically(dir_ / "not-a-dir" / "f.txt", "{}");
    ADD_FAILURE() << "expected an error";
  } catch (const orp::util::file_error& e) {
    EXPECT_NE(std::string(e.what()).find("not-a-dir"), std::string::npos) << e.what();
  }
}

TEST_F(UtilAtomicFile, CheckCreatesTheDirectoryAndLeavesNothingElse) {
  auto file = dir_ / "data" / "state.json";
  orp::util::check_atomic_write(file);
  EXPECT_TRUE(fs::is_directory(file.parent_path()));
  EXPECT_TRUE(fs::is_empty(file.parent_path())) << "the probe's temporary file was left behind";
  EXPECT_FALSE(fs::exists(file));
}

TEST_F(UtilAtomicFile, CheckRefusesWhereTheWriteWouldFail) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "not-a-dir") << "x";
  for (const auto& target : {dir_ / "not-a-dir" / "f.txt", fs::path("/proc/orp-no-such-dir/f.txt")}) {
    try {
      orp::util::check_atomic_write(target);
      ADD_FAILURE() << "expected an error for " << target;
    } catch (const orp::util::file_error& e) {
      EXPECT_NE(std::string(e.what()).find(target.parent_path().string()), std::string::npos) << e.what();
    }
  }
}

}  // namespace
