// Leak checking (contract §8): a program that forgets allocations gets each
// one reported with its size and, in the leak-check build
// (`bazel test --config=leakcheck`, NV_POOL_LEAKCHECK), with the file, line
// and function that allocated it — by nv_pool_destroy (through nv_log_warn)
// and on demand by nv_pool_leak_report, which returns the count.
//
// In every other build the sites are not recorded (the allocation names are
// the plain functions and nv_pool_*_at ignore the site): the report still
// counts and lists the live allocations, destroy says nothing, and the tests
// check exactly that, saying so.
#include <nv_pool.h>
#include <valgrind/memcheck.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pool_test_util.h"

namespace {

using nvtest::LogCapture;

const bool kSites = nv_pool_leakcheck_enabled() != 0;

// Everything written to a FILE (a temporary file, read back).
class FileCapture {
 public:
  FileCapture() : file_(std::tmpfile()) {}
  ~FileCapture() {
    if (file_) std::fclose(file_);
  }
  FILE *get() const { return file_; }
  std::string Text() const {
    std::string out;
    std::fflush(file_);
    std::rewind(file_);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) out.append(buffer, n);
    return out;
  }

 private:
  FILE *file_;
};

std::vector<std::string> Lines(const std::string &text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// "<file>:<line> (<function>)" as the leak lines print a site.
std::string Site(int line, const char *function) {
  return std::string("leakcheck_pool_test.cc:") + std::to_string(line) + " (" + function + ")";
}

std::string Join(const std::vector<std::string> &lines) {
  std::string out;
  for (const std::string &l : lines) out += l + "\n";
  return out;
}

nv_pool_t *MakePool(const char *name) {
  nv_pool_config_t config = NV_POOL_CONFIG_DEFAULT;
  config.name = name;
  config.max_size = 0;
  return nv_pool_create(&config);
}

// The program of the issue: two allocations forgotten among others that are
// freed. Returns their lines.
struct Forgotten {
  int line_small = 0, line_large = 0;
  void *small = nullptr, *large = nullptr;
};

Forgotten ForgetTwo(nv_pool_t *pool) {
  Forgotten f;
  void *kept = nv_pool_alloc(pool, 100);
  f.line_small = __LINE__ + 1;
  f.small = nv_pool_alloc(pool, 24);
  void *also_kept = nv_pool_alloc(pool, 5000);
  f.line_large = __LINE__ + 1;
  f.large = nv_pool_alloc(pool, 70000);
  EXPECT_EQ(nv_pool_free(pool, kept), NV_OK);
  EXPECT_EQ(nv_pool_free(pool, also_kept), NV_OK);
  return f;
}

TEST(LeakCheckTest, DestroyReportsBothForgottenAllocationsWithTheirSites) {
  LogCapture log;
  nv_pool_t *pool = MakePool("leaky");
  ASSERT_NE(pool, nullptr);
  const Forgotten f = ForgetTwo(pool);
  ASSERT_NE(f.small, nullptr);
  ASSERT_NE(f.large, nullptr);
  log.Clear();
  nv_pool_destroy(pool);
  std::vector<std::string> leaks;
  for (const nvtest::LogLine &l : log.Lines())
    if (l.text.find("leak:") != std::string::npos) {
      EXPECT_EQ(l.level, NV_LOG_WARN) << l.text;
      leaks.push_back(l.text);
    }
  if (!kSites) {
    // Outside the leak-check build destroy does not report leaks at all.
    EXPECT_TRUE(leaks.empty()) << "allocation sites are recorded, and destroy reports "
                                  "leaks, only in the leak-check build\n"
                               << Join(leaks);
    return;
  }
  ASSERT_EQ(leaks.size(), 2u) << Join(leaks);
  const std::string text = Join(leaks);
  EXPECT_NE(text.find("nv_pool 'leaky': leak: 24 bytes at "), std::string::npos) << text;
  EXPECT_NE(text.find("nv_pool 'leaky': leak: 70000 bytes at "), std::string::npos) << text;
  EXPECT_NE(text.find(Site(f.line_small, "ForgetTwo")), std::string::npos) << text;
  EXPECT_NE(text.find(Site(f.line_large, "ForgetTwo")), std::string::npos) << text;
  // The full path as the compiler saw it, and each line names its own size.
  for (const std::string &l : leaks) {
    EXPECT_NE(l.find("allocated at tests/leakcheck_pool_test.cc:"), std::string::npos) << l;
    const bool small = l.find(" 24 bytes") != std::string::npos;
    EXPECT_NE(l.find(Site(small ? f.line_small : f.line_large, "ForgetTwo")), std::string::npos)
        << l;
  }
}

TEST(LeakCheckTest, LeakReportOnDemandCountsAndListsThem) {
  LogCapture log;
  nv_pool_t *pool = MakePool("leaky");
  ASSERT_NE(pool, nullptr);
  const Forgotten f = ForgetTwo(pool);
  FileCapture out;
  ASSERT_NE(out.get(), nullptr);
  EXPECT_EQ(nv_pool_leak_report(pool, out.get()), 2u);
  const std::vector<std::string> lines = Lines(out.Text());
  ASSERT_EQ(lines.size(), 2u) << out.Text();
  char small_at[64], large_at[64];
  std::snprintf(small_at, sizeof small_at, "leak: 24 bytes at %p", f.small);
  std::snprintf(large_at, sizeof large_at, "leak: 70000 bytes at %p", f.large);
  const std::string text = out.Text();
  EXPECT_NE(text.find(small_at), std::string::npos) << text;
  EXPECT_NE(text.find(large_at), std::string::npos) << text;
  if (kSites) {
    EXPECT_NE(text.find(Site(f.line_small, "ForgetTwo")), std::string::npos) << text;
    EXPECT_NE(text.find(Site(f.line_large, "ForgetTwo")), std::string::npos) << text;
  } else {
    EXPECT_EQ(text.find("allocated at"), std::string::npos)
        << "sites are recorded only in the leak-check build\n"
        << text;
  }
  // NULL: the same lines through nv_log_warn, sites or "(site not recorded)".
  log.Clear();
  EXPECT_EQ(nv_pool_leak_report(pool, nullptr), 2u);
  size_t warn = 0;
  for (const nvtest::LogLine &l : log.Lines()) {
    if (l.level != NV_LOG_WARN) continue;
    warn++;
    if (kSites) {
      EXPECT_NE(l.text.find("allocated at tests/leakcheck_pool_test.cc:"), std::string::npos)
          << l.text;
    } else {
      EXPECT_NE(l.text.find("(site not recorded)"), std::string::npos) << l.text;
    }
  }
  EXPECT_EQ(warn, 2u);
  // Freed, they are no longer reported.
  EXPECT_EQ(nv_pool_free(pool, f.small), NV_OK);
  EXPECT_EQ(nv_pool_leak_report(pool, out.get()), 1u);
  EXPECT_EQ(nv_pool_free(pool, f.large), NV_OK);
  log.Clear();
  EXPECT_EQ(nv_pool_leak_report(pool, nullptr), 0u);
  EXPECT_EQ(log.Lines().size(), 0u);
  nv_pool_destroy(pool);
  for (const nvtest::LogLine &l : log.Lines())
    EXPECT_EQ(l.text.find("leak:"), std::string::npos) << "nothing left to report: " << l.text;
}

// Every allocation function records its caller's site in the leak-check
// build: the fast path, the slow path, large chunks, calloc, align,
// align_array, the array and type macros, and realloc (the site of the
// realloc that moved the chunk).
TEST(LeakCheckTest, EveryAllocationFunctionRecordsItsSite) {
  if (!kSites)
    GTEST_SKIP() << "allocation sites are recorded only in the leak-check build "
                    "(--config=leakcheck); this build records none";
  LogCapture log;
  nv_pool_t *pool = MakePool("sites");
  ASSERT_NE(pool, nullptr);
  struct Expect {
    void *p;
    int line;
  };
  std::vector<Expect> expected;
  const int l_alloc = __LINE__ + 1;
  expected.push_back({nv_pool_alloc(pool, 10), l_alloc});
  const int l_slow = __LINE__ + 1;
  expected.push_back({nv_pool_alloc(pool, 3000), l_slow});
  const int l_large = __LINE__ + 1;
  expected.push_back({nv_pool_alloc(pool, 100000), l_large});
  const int l_calloc = __LINE__ + 1;
  expected.push_back({nv_pool_calloc(pool, 3, 7), l_calloc});
  const int l_align = __LINE__ + 1;
  expected.push_back({nv_pool_align(pool, 40, 256), l_align});
  const int l_align_array = __LINE__ + 1;
  expected.push_back({nv_pool_align_array(pool, 4, 8, 64), l_align_array});
  const int l_array = __LINE__ + 1;
  expected.push_back({nv_pool_alloc_array(pool, double, 5), l_array});
  const int l_type = __LINE__ + 1;
  expected.push_back({nv_pool_alloc_type(pool, long), l_type});
  void *moved = nv_pool_alloc(pool, 8);
  nv_pool_alloc(pool, 8);  // pins `moved` in place so realloc must move it
  ASSERT_NE(moved, nullptr);
  const int l_realloc = __LINE__ + 1;
  void *grown = nv_pool_realloc(pool, moved, 4000);
  ASSERT_NE(grown, nullptr);
  ASSERT_NE(grown, moved);
  expected.push_back({grown, l_realloc});
  const int l_at = __LINE__ + 1;
  expected.push_back({nv_pool_alloc_at(pool, 12, "somewhere.c", 77, "explicit"), l_at});

  FileCapture out;
  ASSERT_NE(out.get(), nullptr);
  EXPECT_EQ(nv_pool_leak_report(pool, out.get()), expected.size() + 1);  // + the pin
  const std::string text = out.Text();
  for (const Expect &e : expected) {
    ASSERT_NE(e.p, nullptr) << "line " << e.line;
    char at[64];
    std::snprintf(at, sizeof at, " at %p allocated at ", e.p);
    bool found = false;
    for (const std::string &l : Lines(text)) {
      if (l.find(at) == std::string::npos) continue;
      found = true;
      if (e.line == l_at) {
        EXPECT_NE(l.find("somewhere.c:77 (explicit)"), std::string::npos) << l;
      } else {
        EXPECT_NE(l.find(Site(e.line, "TestBody")), std::string::npos) << l;
      }
    }
    EXPECT_TRUE(found) << "no leak line for the allocation of line " << e.line << "\n" << text;
  }
  nv_pool_destroy(pool);
  size_t leak_lines = 0;
  for (const nvtest::LogLine &l : log.Lines()) leak_lines += l.text.find("leak:") != std::string::npos;
  EXPECT_EQ(leak_lines, expected.size() + 1);
}

// nv_pool_*_at outside the leak-check build: the plain functions, the site
// ignored.
TEST(LeakCheckTest, SitesAreIgnoredOutsideTheLeakCheckBuild) {
  if (kSites) GTEST_SKIP() << "leak-check build: sites are recorded (tested above)";
  nv_pool_t *pool = MakePool("plain");
  ASSERT_NE(pool, nullptr);
  void *p = nv_pool_alloc_at(pool, 12, "somewhere.c", 77, "explicit");
  ASSERT_NE(p, nullptr);
  FileCapture out;
  ASSERT_NE(out.get(), nullptr);
  EXPECT_EQ(nv_pool_leak_report(pool, out.get()), 1u);
  EXPECT_EQ(out.Text().find("somewhere.c"), std::string::npos) << out.Text();
  EXPECT_NE(out.Text().find("leak: 12 bytes at "), std::string::npos) << out.Text();
  EXPECT_EQ(nv_pool_free(pool, p), NV_OK);
  nv_pool_destroy(pool);
}

// A report of damage names the allocation site in the leak-check build. The
// damage is written unseen by the tools (see hardening_handler_test.cc), so
// the pool's report is what is tested under ASan and Valgrind too.
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("address"), noinline))
#endif
void SilentFlip(unsigned char *p) {
  volatile unsigned char *v = p;
  VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
  *v = static_cast<unsigned char>(*v ^ 0xFF);
  VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
}

TEST(LeakCheckTest, CorruptionReportNamesTheSite) {
  if (!kSites || !nv_pool_hardening_enabled())
    GTEST_SKIP() << "needs the leak-check build with hardening: sites are recorded only with "
                    "--config=leakcheck, and reports exist only with hardening";
  struct Recorder {
    std::vector<std::string> texts;
    static void Handler(const nv_pool_corruption_t *r, void *context) {
      char buffer[1024];
      static_cast<Recorder *>(context)->texts.push_back(
          nv_pool_format_corruption(r, buffer, sizeof buffer));
    }
  } recorder;
  nv_pool_set_corruption_handler(&Recorder::Handler, &recorder);
  nv_pool_t *pool = MakePool("sites");
  ASSERT_NE(pool, nullptr);
  const int line_small = __LINE__ + 1;
  auto *p = static_cast<unsigned char *>(nv_pool_alloc(pool, 5));
  const int line_large = __LINE__ + 1;
  auto *q = static_cast<unsigned char *>(nv_pool_alloc(pool, 100000));
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  SilentFlip(p + 5);
  SilentFlip(q + 100000);
  EXPECT_EQ(nv_pool_free(pool, p), NV_ECORRUPT);
  EXPECT_EQ(nv_pool_free(pool, q), NV_ECORRUPT);
  ASSERT_EQ(recorder.texts.size(), 2u);
  EXPECT_NE(recorder.texts[0].find("; allocated at tests/leakcheck_pool_test.cc:" +
                                   std::to_string(line_small) + " (TestBody)"),
            std::string::npos)
      << recorder.texts[0];
  EXPECT_NE(recorder.texts[1].find("; allocated at tests/leakcheck_pool_test.cc:" +
                                   std::to_string(line_large) + " (TestBody)"),
            std::string::npos)
      << recorder.texts[1];
  nv_pool_destroy(pool);
  nv_pool_set_corruption_handler(nullptr, nullptr);
}

}  // namespace
