// nv_pool under Valgrind memcheck (contract §8): runs valgrind_pool_bugs,
// a small program with one memory bug per mode, under
//
//   valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=all
//
// and checks memcheck's verdict for each: the error count, the kind of error
// ("Invalid write", "Invalid read", "Conditional jump ..."), the leak summary,
// and the pool's own corruption reports (printed by the program's handler).
//
// The program is built like any other in the build under test: in the
// default build the pool's mempool client requests are compiled in and turn
// on because the program runs under Valgrind; --config=release compiles them
// out (--define nv_pool_valgrind=off), and this test then checks what memcheck
// still sees without them. An ASan build cannot run under Valgrind, so the
// test skips there.
//
// Under --config=valgrind this test binary itself runs under memcheck
// (tools/valgrind_test.sh, --trace-children=no); the valgrind it starts runs
// natively, so nothing is nested.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#ifndef NV_TEST_POOL_VALGRIND
#define NV_TEST_POOL_VALGRIND 1
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define NV_TEST_SHADOW_SANITIZER 1
#endif
#endif
#if !defined(NV_TEST_SHADOW_SANITIZER) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define NV_TEST_SHADOW_SANITIZER 1
#endif
#ifndef NV_TEST_SHADOW_SANITIZER
#define NV_TEST_SHADOW_SANITIZER 0
#endif

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr, memcheck's lines included
  long errors = -1;    // ERROR SUMMARY
  long pool_reports = -1;

  size_t Count(const std::string &needle) const {
    size_t n = 0;
    for (size_t at = output.find(needle); at != std::string::npos;
         at = output.find(needle, at + needle.size()))
      n++;
    return n;
  }
  bool Has(const std::string &needle) const { return output.find(needle) != std::string::npos; }
};

std::string Program() {
  const char *srcdir = std::getenv("TEST_SRCDIR");
  const char *workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && workspace != nullptr)
    return std::string(srcdir) + "/" + workspace + "/tests/valgrind_pool_bugs";
  return "tests/valgrind_pool_bugs";
}

std::string Valgrind() {
  for (const char *path : {"/usr/bin/valgrind", "/usr/local/bin/valgrind"})
    if (access(path, X_OK) == 0) return path;
  return "";
}

Outcome RunMode(const std::string &mode) {
  Outcome run;
  const std::string command = Valgrind() +
                              " --error-exitcode=99 --leak-check=full --show-leak-kinds=all"
                              " --errors-for-leak-kinds=definite,indirect --num-callers=30"
                              " --track-origins=no --vgdb=no --trace-children=no " +
                              Program() + " " + mode + " 2>&1";
  FILE *pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  std::smatch m;
  if (std::regex_search(run.output, m, std::regex("ERROR SUMMARY: ([0-9,]+) errors")))
    run.errors = std::stol(std::regex_replace(m[1].str(), std::regex(","), ""));
  if (std::regex_search(run.output, m, std::regex("pool reports: ([0-9]+)")))
    run.pool_reports = std::stol(m[1].str());
  return run;
}

bool Hardened(const Outcome &run) { return run.Has("build: hardening=1"); }

class ValgrindPoolTest : public testing::Test {
 protected:
  void SetUp() override {
    if (NV_TEST_SHADOW_SANITIZER)
      GTEST_SKIP() << "built with a sanitizer that maps shadow memory (ASan/TSan): such "
                      "binaries cannot run under Valgrind";
    if (Valgrind().empty()) GTEST_SKIP() << "valgrind is not installed";
  }

  // Runs a mode and checks the parts every mode shares.
  Outcome Mode(const std::string &mode) {
    Outcome run = RunMode(mode);
    EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 99)
        << mode << ": exit " << run.exit_code << " (2 = the program's setup failed)\n"
        << run.output;
    EXPECT_GE(run.errors, 0) << mode << ": no ERROR SUMMARY\n" << run.output;
    EXPECT_FALSE(run.Has("unhandled dwarf2 abbrev form"))
        << "debug info in DWARF 5: build with -gdwarf-4\n" << run.output;
    return run;
  }

  // One memcheck error of the given kind, reported at the program's bug.
  void ExpectOneError(const Outcome &run, const std::string &kind, const std::string &mode) {
    EXPECT_EQ(run.exit_code, 99) << mode << "\n" << run.output;
    EXPECT_EQ(run.errors, 1) << mode << "\n" << run.output;
    EXPECT_EQ(run.Count(kind), 1u) << mode << ": expected \"" << kind << "\"\n" << run.output;
    // (fastbuild links with -Wl,-S: file and line only with --config=valgrind)
    EXPECT_TRUE(run.Has(": run_bug (")) << mode << ": stack without the bug\n" << run.output;
  }
  void ExpectNoError(const Outcome &run, const std::string &mode) {
    EXPECT_EQ(run.exit_code, 0) << mode << "\n" << run.output;
    EXPECT_EQ(run.errors, 0) << mode << "\n" << run.output;
  }
};

constexpr bool kRequests = NV_TEST_POOL_VALGRIND != 0;
constexpr char kNoRequests[] =
    "the pool's memcheck requests are compiled out (--define nv_pool_valgrind=off, "
    "--config=release): a pool chunk is just bytes of a malloc'd block to memcheck";

TEST_F(ValgrindPoolTest, CleanProgramHasNoErrorsAndNoLeaks) {
  const Outcome run = Mode("clean");
  ExpectNoError(run, "clean");
  EXPECT_TRUE(run.Has("clean: checksum")) << run.output;
  EXPECT_TRUE(run.Has("All heap blocks were freed -- no leaks are possible")) << run.output;
  EXPECT_FALSE(run.Has("still reachable")) << run.output;
}

// The three bugs of contract §8.
TEST_F(ValgrindPoolTest, OverflowIntoTheNextChunk) {
  const Outcome run = Mode("overflow");
  if (!kRequests) {
    ExpectNoError(run, std::string("overflow; ") + kNoRequests);
    return;
  }
  EXPECT_EQ(run.exit_code, 99) << run.output;
  // Every byte the loop writes into a redzone is an error (one context);
  // the next chunk's header is addressable to the pool and its requested
  // bytes are live, so they are not.
  EXPECT_GE(run.errors, 1) << run.output;
  EXPECT_TRUE(run.Has(" errors from 1 contexts")) << run.output;
  EXPECT_EQ(run.Count("Invalid write of size 1"), 1u) << run.output;
  EXPECT_TRUE(run.Has(": run_bug (")) << run.output;
  if (Hardened(run)) {
    EXPECT_GE(run.pool_reports, 1) << run.output;
    EXPECT_TRUE(run.Has("back redzone (overflow) damaged")) << run.output;
  }
}

TEST_F(ValgrindPoolTest, ReadAfterFree) {
  const Outcome run = Mode("read-after-free");
  if (!kRequests) return ExpectNoError(run, std::string("read-after-free; ") + kNoRequests);
  ExpectOneError(run, "Invalid read of size 1", "read-after-free");
}

TEST_F(ValgrindPoolTest, ReadAfterReset) {
  const Outcome run = Mode("read-after-reset");
  if (!kRequests) return ExpectNoError(run, std::string("read-after-reset; ") + kNoRequests);
  ExpectOneError(run, "Invalid read of size 1", "read-after-reset");
}

// The rest of the table in docs/hardening.md.
TEST_F(ValgrindPoolTest, OverflowByOneUnderflowAndLargeOverflow) {
  for (const char *mode : {"overflow-by-one", "underflow", "large-overflow"}) {
    const Outcome run = Mode(mode);
    if (!kRequests) {
      ExpectNoError(run, std::string(mode) + "; " + kNoRequests);
      continue;
    }
    ExpectOneError(run, "Invalid write of size 1", mode);
    if (Hardened(run)) {
      EXPECT_EQ(run.pool_reports, 1) << mode << "\n" << run.output;
    }
  }
}

TEST_F(ValgrindPoolTest, WriteAfterFree) {
  const Outcome run = Mode("write-after-free");
  if (!kRequests) return ExpectNoError(run, std::string("write-after-free; ") + kNoRequests);
  ExpectOneError(run, "Invalid write of size 1", "write-after-free");
  if (Hardened(run)) {
    EXPECT_EQ(run.pool_reports, 1) << run.output;
    EXPECT_TRUE(run.Has("freed chunk (write after free) damaged")) << run.output;
  }
}

// The block's last chunk: its space returns to the tail, which the pool does
// not check (contract §8 leaves it to the tools); memcheck catches it.
TEST_F(ValgrindPoolTest, WriteAfterFreeOfTheLastChunk) {
  const Outcome run = Mode("tail-write-after-free");
  if (!kRequests) return ExpectNoError(run, std::string("tail-write-after-free; ") + kNoRequests);
  ExpectOneError(run, "Invalid write of size 1", "tail-write-after-free");
  EXPECT_EQ(run.pool_reports, 0) << run.output;
}

// Block space past the bump pointer is NOACCESS until it is handed out.
TEST_F(ValgrindPoolTest, WriteIntoSpaceNeverHandedOut) {
  const Outcome run = Mode("never-handed-out");
  if (!kRequests) return ExpectNoError(run, std::string("never-handed-out; ") + kNoRequests);
  ExpectOneError(run, "Invalid write of size 1", "never-handed-out");
}

// A large chunk's memory goes back to malloc on free: memcheck's own
// tracking of malloc blocks catches it with or without the pool's requests.
TEST_F(ValgrindPoolTest, ReadAfterFreeOfALargeChunk) {
  const Outcome run = Mode("large-read-after-free");
  ExpectOneError(run, "Invalid read of size 1", "large-read-after-free");
  EXPECT_TRUE(run.Has("free'd")) << run.output;
}

// Chunk headers are addressable (the pool reads them): a write into one is
// no memcheck error; the hardened pool reports it.
TEST_F(ValgrindPoolTest, DamagedHeaderIsLeftToThePool) {
  const Outcome run = Mode("header");
  ExpectNoError(run, "header");
  if (Hardened(run)) {
    EXPECT_EQ(run.pool_reports, 1) << run.output;
    EXPECT_TRUE(run.Has("chunk header damaged")) << run.output;
  }
}

// New chunks are undefined to memcheck (block memory is malloc'd, so this
// holds without the requests too).
TEST_F(ValgrindPoolTest, UninitialisedRead) {
  const Outcome run = Mode("uninitialised");
  EXPECT_EQ(run.exit_code, 99) << run.output;
  EXPECT_EQ(run.errors, 1) << run.output;
  EXPECT_EQ(run.Count("Conditional jump or move depends on uninitialised value"), 1u)
      << run.output;
}

// The pool refuses a double free (NV_ERROR, a log line) before anything
// reaches memcheck.
TEST_F(ValgrindPoolTest, DoubleFreeIsThePoolsError) {
  const Outcome run = Mode("double-free");
  ExpectNoError(run, "double-free");
  EXPECT_TRUE(run.Has("second free: -1")) << run.output;
  EXPECT_TRUE(run.Has("(double free)")) << run.output;
}

// A pool that is never destroyed: with the requests, memcheck lists its live
// chunks (13 + 200 bytes) as definitely lost, allocated by nv_pool_alloc from
// the program; without them only the pool's own malloc'd memory.
TEST_F(ValgrindPoolTest, LostPool) {
  const Outcome run = Mode("lost-pool");
  EXPECT_EQ(run.exit_code, 99) << run.output;
  EXPECT_TRUE(run.Has("definitely lost in loss record")) << run.output;
  if (kRequests) {
    EXPECT_TRUE(run.Has("213 bytes in 2 blocks are definitely lost") ||
                (run.Has(" 13 bytes in 1 blocks are definitely lost") &&
                 run.Has(" 200 bytes in 1 blocks are definitely lost")))
        << run.output;
    EXPECT_TRUE(std::regex_search(run.output, std::regex("by 0x[0-9A-F]+: nv_pool_alloc")))
        << run.output;
  } else {
    EXPECT_FALSE(run.Has("213 bytes in 2 blocks") || run.Has(" 13 bytes in 1 blocks") ||
                 run.Has(" 200 bytes in 1 blocks"))
        << run.output;
  }
}

}  // namespace
