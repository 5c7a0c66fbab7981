// The goal workspace: the path rules, writing files (and refusing escapes without writing
// anything), not following planted symlinks, reading back, copying.
#include "cadre/roles/workspace.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cadre::roles {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// Every entry under `dir` (not following symlinks), as relative paths.
std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    out.insert(fs::relative(it->path(), dir).generic_string());
  }
  return out;
}

// A fresh temporary folder per test: base/ holds ws/ (the workspace root) and whatever else a
// test needs beside it, such as an "outside" folder.
class WorkspaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/cadre-ws-test-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    base_ = fs::path(name);
    root_ = base_ / "ws";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  Workspace open() {
    auto ws = Workspace::open(root_.string());
    EXPECT_TRUE(ws.ok()) << ws.error().to_string();
    return std::move(ws).value();
  }

  fs::path base_;
  fs::path root_;
};

// ---- check_relative_path ----

TEST(RelativePath, AcceptsOrdinaryPaths) {
  for (const char* ok : {"a", "src/main.c", "a/b/c/d.txt", ".hidden", "a/.b", "..a", "a..",
                         "with space.txt", "\xc3\xa9t\xc3\xa9.md", "..."}) {
    EXPECT_TRUE(check_relative_path(ok).ok()) << ok << ": " << check_relative_path(ok).error().message;
  }
  EXPECT_TRUE(check_relative_path(std::string(255, 'x')).ok());
  std::string long_ok;
  while (long_ok.size() + 101 <= kMaxPathBytes) long_ok += std::string(100, 'y') + "/";
  long_ok += "z";
  EXPECT_TRUE(check_relative_path(long_ok).ok());
}

TEST(RelativePath, RefusesAndSaysWhy) {
  struct Case {
    std::string path;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"/etc/x", "is absolute"},
      {"../x", "'..' segment"},
      {"a/../../x", "'..' segment"},
      {"a/..", "'..' segment"},
      {"..", "'..' segment"},
      {"./a", "'.' segment"},
      {"a/./b", "'.' segment"},
      {".", "'.' segment"},
      {"a//b", "empty segment"},
      {"a/", "empty segment"},
      {std::string("a\0b", 3), "NUL"},
      {"a\\b", "backslash"},
      {"..\\x", "backslash"},
      {std::string(256, 'x'), "segment of 256 bytes"},
      {std::string(kMaxPathBytes + 1, 'x'), "over the limit of 4096"},
  };
  for (const auto& c : cases) {
    const Status st = check_relative_path(c.path);
    ASSERT_FALSE(st.ok()) << c.path;
    EXPECT_NE(st.error().message.find(c.why), std::string::npos)
        << c.path << " -> " << st.error().message;
  }
  // The message names the path (control bytes escaped).
  EXPECT_EQ(check_relative_path("../x").error().message, "path '../x': contains a '..' segment");
  EXPECT_NE(check_relative_path(std::string("a\0b", 3)).error().message.find("a\\x00b"),
            std::string::npos);
}

// ---- open ----

TEST_F(WorkspaceTest, OpenCreatesTheFolder) {
  ASSERT_FALSE(fs::exists(root_));
  Workspace ws = open();
  EXPECT_TRUE(fs::is_directory(root_));
  EXPECT_EQ(ws.root(), fs::canonical(root_).string());
  // Opening an existing folder is fine; a file is not a workspace.
  EXPECT_TRUE(Workspace::open(root_.string()).ok());
  put(base_ / "file", "x");
  EXPECT_FALSE(Workspace::open((base_ / "file").string()).ok());
}

// ---- write_files ----

TEST_F(WorkspaceTest, WritesNestedFiles) {
  Workspace ws = open();
  const Status st = ws.write_files({{"src/main.c", "int main() {}\n"},
                                    {"src/lib/util.h", "#pragma once\n"},
                                    {"README.md", "# hi"},
                                    {"empty", ""}});
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  EXPECT_EQ(slurp(root_ / "src/main.c"), "int main() {}\n");
  EXPECT_EQ(slurp(root_ / "src/lib/util.h"), "#pragma once\n");
  EXPECT_EQ(slurp(root_ / "README.md"), "# hi");
  EXPECT_TRUE(fs::is_regular_file(root_ / "empty"));
  EXPECT_EQ(fs::file_size(root_ / "empty"), 0u);

  // Rewriting replaces the whole content (shorter content leaves no tail).
  ASSERT_TRUE(ws.write_files({{"src/main.c", "x"}}).ok());
  EXPECT_EQ(slurp(root_ / "src/main.c"), "x");
  // An empty batch writes nothing and succeeds.
  EXPECT_TRUE(ws.write_files({}).ok());
}

TEST_F(WorkspaceTest, RefusesEscapesAndNamesThePath) {
  Workspace ws = open();
  for (const char* bad : {"../x", "/etc/x", "a/../../x"}) {
    const Status st = ws.write_files({{bad, "pwned"}});
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << st.error().message;
  }
  EXPECT_FALSE(fs::exists(base_ / "x"));
  EXPECT_TRUE(tree(root_).empty());
}

TEST_F(WorkspaceTest, OneBadPathOfSeveralWritesNothingAnywhere) {
  Workspace ws = open();
  put(base_ / "sibling.txt", "keep");
  const std::set<std::string> before = tree(base_);
  for (const char* bad : {"../x", "/etc/x", "a/../../x", "ok/../../escape"}) {
    const Status st = ws.write_files({{"first.txt", "1"},
                                      {"nested/deep/second.txt", "2"},
                                      {bad, "pwned"},
                                      {"third.txt", "3"}});
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find(bad), std::string::npos) << st.error().message;
    EXPECT_EQ(tree(base_), before) << "something was written for " << bad;
  }
  EXPECT_TRUE(tree(root_).empty());
  EXPECT_EQ(slurp(base_ / "sibling.txt"), "keep");
}

TEST_F(WorkspaceTest, RefusesConflictsWithinTheBatch) {
  Workspace ws = open();
  Status twice = ws.write_files({{"a.txt", "1"}, {"a.txt", "2"}});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("appears twice"), std::string::npos);
  Status file_and_folder = ws.write_files({{"a", "1"}, {"a/b", "2"}});
  ASSERT_FALSE(file_and_folder.ok());
  EXPECT_NE(file_and_folder.error().message.find("'a/b'"), std::string::npos);
  EXPECT_TRUE(tree(root_).empty());
  // A path through an existing file.
  ASSERT_TRUE(ws.write_files({{"f", "x"}}).ok());
  Status through_file = ws.write_files({{"ok.txt", "1"}, {"f/g", "2"}});
  ASSERT_FALSE(through_file.ok());
  EXPECT_NE(through_file.error().message.find("'f' is an existing file"), std::string::npos)
      << through_file.error().message;
  EXPECT_FALSE(fs::exists(root_ / "ok.txt"));
  // Onto an existing folder.
  fs::create_directories(root_ / "dir");
  EXPECT_FALSE(ws.write_files({{"dir", "x"}}).ok());
}

TEST_F(WorkspaceTest, DoesNotFollowAPlantedSymlinkOutside) {
  Workspace ws = open();
  const fs::path outside = base_ / "outside";
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, root_ / "link");  // root/link -> <base>/outside

  const Status st = ws.write_files({{"fine.txt", "1"}, {"link/x", "pwned"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("'link/x'"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("outside the workspace"), std::string::npos)
      << st.error().message;
  EXPECT_FALSE(fs::exists(outside / "x"));
  EXPECT_FALSE(fs::exists(root_ / "fine.txt")) << "nothing is written when one path is bad";
  EXPECT_TRUE(fs::is_empty(outside));

  // Deeper, and through a relative symlink with "..".
  fs::create_directories(root_ / "sub");
  fs::create_directory_symlink("../../outside", root_ / "sub/up");
  EXPECT_FALSE(ws.write_files({{"sub/up/y", "pwned"}}).ok());
  EXPECT_FALSE(fs::exists(outside / "y"));
  EXPECT_FALSE(ws.write_files({{"link/new/z", "pwned"}}).ok());
  EXPECT_FALSE(fs::exists(outside / "new"));
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(WorkspaceTest, DoesNotWriteThroughASymlinkedFile) {
  Workspace ws = open();
  const fs::path target = base_ / "secret.txt";
  put(target, "secret");
  fs::create_symlink(target, root_ / "file.txt");  // root/file.txt -> <base>/secret.txt
  const Status st = ws.write_files({{"file.txt", "pwned"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("symlink"), std::string::npos) << st.error().message;
  EXPECT_EQ(slurp(target), "secret");
  // Even a symlink to a file inside the workspace is not written through.
  put(root_ / "real.txt", "real");
  fs::create_symlink("real.txt", root_ / "alias.txt");
  EXPECT_FALSE(ws.write_files({{"alias.txt", "changed"}}).ok());
  EXPECT_EQ(slurp(root_ / "real.txt"), "real");
  // A dangling symlink is not followed to create a file either.
  fs::create_symlink(base_ / "created-outside", root_ / "dangling");
  EXPECT_FALSE(ws.write_files({{"dangling", "pwned"}}).ok());
  EXPECT_FALSE(fs::exists(base_ / "created-outside"));
}

TEST_F(WorkspaceTest, DoesNotWriteThroughAHardLink) {
  Workspace ws = open();
  const fs::path target = base_ / "secret.txt";
  put(target, "secret");
  fs::create_hard_link(target, root_ / "hard.txt");
  EXPECT_FALSE(ws.write_files({{"hard.txt", "pwned"}}).ok());
  EXPECT_EQ(slurp(target), "secret");
}

TEST_F(WorkspaceTest, FollowsASymlinkThatStaysInside) {
  Workspace ws = open();
  fs::create_directories(root_ / "real");
  fs::create_directory_symlink("real", root_ / "alias");
  const Status st = ws.write_files({{"alias/x.txt", "in"}});
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  EXPECT_EQ(slurp(root_ / "real/x.txt"), "in");
}

// ---- read_files ----

TEST_F(WorkspaceTest, ReadFilesRoundTrip) {
  Workspace ws = open();
  const std::vector<FileEdit> files = {
      {"z.txt", "last"}, {"a/b/c.txt", "deep"}, {"a/a.txt", "shallow"}, {"M.md", ""}};
  ASSERT_TRUE(ws.write_files(files).ok());
  auto got = ws.read_files();
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& f : *got) pairs.emplace_back(f.path, f.content);
  EXPECT_EQ(pairs, (std::vector<std::pair<std::string, std::string>>{
                       {"M.md", ""}, {"a/a.txt", "shallow"}, {"a/b/c.txt", "deep"},
                       {"z.txt", "last"}}));
}

TEST_F(WorkspaceTest, ReadFilesSkipsSymlinksBinariesGitAndWhatDoesNotFit) {
  Workspace ws = open();
  const fs::path outside = base_ / "outside";
  put(outside / "secret.txt", "secret");
  put(root_ / "a.txt", "aaaa");
  put(root_ / "b.txt", "bbbbbbbbbb");
  put(root_ / "c.txt", "cc");
  put(root_ / "bin.dat", std::string("x\0y", 3));
  put(root_ / ".git/config", "[core]");
  fs::create_directory_symlink(outside, root_ / "link");
  fs::create_symlink(outside / "secret.txt", root_ / "secret-link.txt");

  auto all = ws.read_files();
  ASSERT_TRUE(all.ok());
  std::vector<std::string> paths;
  for (const auto& f : *all) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.txt", "b.txt", "c.txt"}));

  // A budget of 7 bytes: a.txt (4) fits, b.txt (10) does not, c.txt (2) still does.
  auto some = ws.read_files(7);
  ASSERT_TRUE(some.ok());
  paths.clear();
  for (const auto& f : *some) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a.txt", "c.txt"}));
  auto none = ws.read_files(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// ---- copy_to ----

TEST_F(WorkspaceTest, CopyToMakesAnIndependentCopy) {
  Workspace ws = open();
  ASSERT_TRUE(ws.write_files({{"src/main.c", "main"}, {"README.md", "readme"}}).ok());
  fs::create_directories(root_ / "empty-dir");
  ::chmod((root_ / "src/main.c").c_str(), 0755);
  fs::create_symlink("README.md", root_ / "readme-link");

  const fs::path dest = base_ / "trial";
  auto copy = ws.copy_to(dest.string());
  ASSERT_TRUE(copy.ok()) << copy.error().to_string();
  EXPECT_EQ(copy->root(), fs::canonical(dest).string());
  EXPECT_EQ(tree(dest), tree(root_));
  EXPECT_EQ(slurp(dest / "src/main.c"), "main");
  EXPECT_TRUE(fs::is_directory(dest / "empty-dir"));
  EXPECT_TRUE(fs::is_symlink(dest / "readme-link"));
  EXPECT_EQ(fs::read_symlink(dest / "readme-link"), "README.md");
  EXPECT_EQ(fs::status(dest / "src/main.c").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);

  // Changing the copy leaves the original alone.
  ASSERT_TRUE(copy->write_files({{"src/main.c", "changed"}, {"new.txt", "n"}}).ok());
  EXPECT_EQ(slurp(root_ / "src/main.c"), "main");
  EXPECT_FALSE(fs::exists(root_ / "new.txt"));
  auto original = ws.read_files();
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(original->size(), 2u);
}

TEST_F(WorkspaceTest, CopyToNeedsAFreshFolderOutsideTheWorkspace) {
  Workspace ws = open();
  ASSERT_TRUE(ws.write_files({{"a.txt", "a"}}).ok());
  put(base_ / "taken/file", "x");
  EXPECT_FALSE(ws.copy_to((base_ / "taken").string()).ok());
  EXPECT_FALSE(ws.copy_to((root_ / "inner").string()).ok());
  EXPECT_FALSE(fs::exists(root_ / "inner"));
  EXPECT_FALSE(ws.copy_to(root_.string()).ok());
  // An existing empty folder is fine.
  fs::create_directories(base_ / "empty");
  auto copy = ws.copy_to((base_ / "empty").string());
  ASSERT_TRUE(copy.ok()) << copy.error().to_string();
  EXPECT_EQ(slurp(base_ / "empty/a.txt"), "a");
}

}  // namespace
}  // namespace cadre::roles
