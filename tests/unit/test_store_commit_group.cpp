// StoreCommitGroup: the splits committed while a group is in force are
// installed together by its commit(); a group ended without commit() (a failed
// or interrupted `elmrun prep`) removes them and leaves the earlier files
// byte-identical, even for splits whose writer had already committed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/store/dataset_store.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using elm::FieldType;
using elm::StoreCommitGroup;
using elm::StoreInfo;
using elm::StoreReader;
using elm::StoreWriter;

namespace {

void write_split(const std::string& path, int64_t samples, uint8_t value) {
  StoreInfo info;
  info.task = "listops";
  info.split = fs::path(path).stem().string();
  info.source = "unit test";
  info.input_kind = "tokens";
  info.channels = 256;
  info.num_classes = 2;
  info.max_length = 3;
  StoreWriter w(path, info, {{"tokens", FieldType::UInt8}});
  const std::vector<uint8_t> tokens(3, value);
  for (int64_t i = 0; i < samples; ++i) {
    w.append_u8("tokens", tokens);
    w.end_sample(i % 2);
  }
  w.commit();
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> t;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) t.push_back(e.path().string());
  return t;
}

}  // namespace

TEST(StoreCommitGroup, AbandonedGroupRemovesCommittedSplitsAndKeepsEarlierFiles) {
  elm::test::TempDir tmp("elm-commit-group");
  const std::string train = tmp.file("train.h5"), valid = tmp.file("valid.h5");
  write_split(train, 4, 1);
  write_split(valid, 2, 1);
  const std::string train_before = bytes_of(train), valid_before = bytes_of(valid);
  {
    StoreCommitGroup group;
    write_split(train, 5, 7);  // committed into the group
    EXPECT_EQ(bytes_of(train), train_before);
    EXPECT_EQ(temporaries(tmp.path()).size(), 1u);
    StoreInfo info;
    info.task = "listops";
    info.split = "valid";
    info.input_kind = "tokens";
    StoreWriter unfinished(valid, info, {{"tokens", FieldType::UInt8}});
    EXPECT_EQ(temporaries(tmp.path()).size(), 2u);
  }  // neither committed: both temporaries go
  EXPECT_TRUE(temporaries(tmp.path()).empty());
  EXPECT_EQ(bytes_of(train), train_before);
  EXPECT_EQ(bytes_of(valid), valid_before);
}

TEST(StoreCommitGroup, CommitInstallsEverySplitAtTheEnd) {
  elm::test::TempDir tmp("elm-commit-group");
  const std::string train = tmp.file("train.h5"), valid = tmp.file("valid.h5");
  write_split(train, 4, 1);
  {
    StoreCommitGroup group;
    write_split(train, 5, 7);
    write_split(valid, 3, 7);
    EXPECT_EQ(StoreReader(train).num_samples(), 4);
    EXPECT_FALSE(fs::exists(valid));
    EXPECT_EQ(group.commit(), (std::vector<std::string>{train, valid}));
    EXPECT_TRUE(temporaries(tmp.path()).empty());
    EXPECT_EQ(StoreReader(train).num_samples(), 5);
    EXPECT_EQ(StoreReader(valid).num_samples(), 3);
    // The group has ended: later commits rename at once.
    write_split(valid, 6, 2);
    EXPECT_EQ(StoreReader(valid).num_samples(), 6);
  }
  EXPECT_EQ(StoreReader(train).num_samples(), 5);
  EXPECT_EQ(StoreReader(valid).num_samples(), 6);
  EXPECT_TRUE(temporaries(tmp.path()).empty());
}

TEST(StoreCommitGroup, OneGroupAtATime) {
  StoreCommitGroup group;
  EXPECT_THROW(StoreCommitGroup second, elm::ElmError);
}
