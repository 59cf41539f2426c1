// Tests for libnv's common core: return codes and the logger.
#include <nv_error.h>
#include <nv_log.h>

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

TEST(ReturnCodes, OkIsZeroErrorsNegativeAndDistinct) {
  EXPECT_EQ(NV_OK, 0);
  const std::vector<int> errors = {NV_ERROR, NV_ENOMEM, NV_EINVAL, NV_ECORRUPT};
  std::set<int> seen;
  for (int code : errors) {
    EXPECT_LT(code, 0) << code;
    EXPECT_TRUE(seen.insert(code).second) << "duplicate code " << code;
  }
}

TEST(ReturnCodes, EveryCodeHasItsOwnText) {
  std::set<std::string> texts;
  for (int code : {NV_OK, NV_ERROR, NV_ENOMEM, NV_EINVAL, NV_ECORRUPT}) {
    const char *text = nv_strerror(code);
    ASSERT_NE(text, nullptr);
    EXPECT_NE(std::string(text), "unknown libnv error code") << code;
    EXPECT_TRUE(texts.insert(text).second) << "shared text: " << text;
  }
  EXPECT_STREQ(nv_strerror(-12345), "unknown libnv error code");
  EXPECT_STREQ(nv_strerror(7), "unknown libnv error code");
}

struct Captured {
  nv_log_level_t level;
  std::string line;
};

void Capture(nv_log_level_t level, const char *line, void *context) {
  static_cast<std::vector<Captured> *>(context)->push_back({level, line});
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nv_log_set_handler(Capture, &lines_);
    previous_level_ = nv_log_set_level(NV_LOG_DEBUG);
  }
  void TearDown() override {
    nv_log_set_handler(nullptr, nullptr);
    nv_log_set_level(previous_level_);
  }
  std::vector<Captured> lines_;
  nv_log_level_t previous_level_ = NV_LOG_INFO;
};

TEST_F(LogTest, EachLevelReachesTheHandlerOnceWithItsLevel) {
  nv_log_error("e %d", 1);
  nv_log_warn("w %s", "two");
  nv_log_info("i");
  nv_log_debug("d %zu", static_cast<size_t>(4));
  nv_log(NV_LOG_ERROR, "generic %c", 'x');
  ASSERT_EQ(lines_.size(), 5u);
  EXPECT_EQ(lines_[0].level, NV_LOG_ERROR);
  EXPECT_EQ(lines_[0].line, "e 1");
  EXPECT_EQ(lines_[1].level, NV_LOG_WARN);
  EXPECT_EQ(lines_[1].line, "w two");
  EXPECT_EQ(lines_[2].level, NV_LOG_INFO);
  EXPECT_EQ(lines_[3].level, NV_LOG_DEBUG);
  EXPECT_EQ(lines_[3].line, "d 4");
  EXPECT_EQ(lines_[4].line, "generic x");
}

TEST_F(LogTest, LevelFilterDropsLowerLevels) {
  EXPECT_EQ(nv_log_set_level(NV_LOG_WARN), NV_LOG_DEBUG);
  nv_log_info("dropped");
  nv_log_debug("dropped");
  nv_log_warn("kept");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line, "kept");
}

TEST_F(LogTest, NewlinesAreFlattenedToKeepOneLinePerCall) {
  nv_log_error("a\nb\r\nc");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line.find('\n'), std::string::npos);
  EXPECT_EQ(lines_[0].line, "a b  c");
}

TEST_F(LogTest, LongMessagesAreTruncatedWithEllipsis) {
  std::string big(NV_LOG_LINE_MAX * 2, 'x');
  nv_log_error("%s", big.c_str());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].line.size(), static_cast<size_t>(NV_LOG_LINE_MAX));
  EXPECT_EQ(lines_[0].line.substr(lines_[0].line.size() - 3), "...");
}

TEST(LogDefault, DefaultHandlerWritesOneLineToStderr) {
  nv_log_set_handler(nullptr, nullptr);
  ::testing::internal::CaptureStderr();
  nv_log_error("pool %s failed", "p0");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "libnv error: pool p0 failed\n");
}

TEST(LogDefault, LevelNames) {
  EXPECT_STREQ(nv_log_level_name(NV_LOG_ERROR), "error");
  EXPECT_STREQ(nv_log_level_name(NV_LOG_WARN), "warn");
  EXPECT_STREQ(nv_log_level_name(NV_LOG_INFO), "info");
  EXPECT_STREQ(nv_log_level_name(NV_LOG_DEBUG), "debug");
}

}  // namespace
