// nv_pool.h compiles on its own as C++11 and C++17 with
// -Wall -Wextra -Werror -pedantic (the BUILD file builds this file once per
// standard), links against the C library through its extern "C" block, and
// its typed allocation macros honour a C++ over-aligned type.
//
// NV_POOL_CONFIG_DEFAULT is not used here: it is a C99 designated
// initializer, which C++ has only from C++20 (-pedantic rejects it before).
#include <nv_pool.h>  // first: the header must be self-contained
#include <nv_pool.h>  // and include-guarded

#include <cstdint>
#include <cstdio>

#if __cplusplus != NV_EXPECTED_CPLUSPLUS
#error "not compiled as the C++ standard this target is for"
#endif

namespace {

struct alignas(64) line {
  unsigned char bytes[64];
};

int failures = 0;

void check(bool condition, const char *what, int source_line) {
  if (!condition) {
    std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, source_line, what);
    ++failures;
  }
}

#define CHECK(condition) check((condition), #condition, __LINE__)

bool is_aligned(const void *pointer, std::size_t alignment) {
  return pointer != nullptr &&
         reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

}  // namespace

int main() {
  static_assert(NV_OK == 0, "NV_OK is 0");
  static_assert(NV_ERROR < 0 && NV_ENOMEM < 0, "error codes are negative");
  static_assert(NV_POOL_ALIGNOF(line) == 64, "NV_POOL_ALIGNOF is alignof");

  nv_pool_config_t config = nv_pool_config_t();  // all zero: every default
  config.initial_size = 64 * 1024;
  config.auto_extend = 1;
  config.enable_stats = 1;
  nv_pool_t *pool = nv_pool_create(&config);
  CHECK(pool != nullptr);
  if (pool == nullptr) {
    return 1;
  }

  line *one = nv_pool_alloc_type(pool, line);
  CHECK(is_aligned(one, alignof(line)));
  line *many = nv_pool_alloc_array(pool, line, 10);
  CHECK(is_aligned(many, alignof(line)));
  int *numbers = nv_pool_alloc_array(pool, int, 100);
  CHECK(is_aligned(numbers, alignof(int)));
  if (one != nullptr && many != nullptr && numbers != nullptr) {
    one->bytes[63] = 7;
    many[9].bytes[0] = 9;
    numbers[99] = 99;
    CHECK(one->bytes[63] == 7 && many[9].bytes[0] == 9 && numbers[99] == 99);
  }

  nv_pool_stats_t stats;
  nv_pool_get_stats(pool, &stats);
  CHECK(stats.live_allocations == 3);

  CHECK(nv_pool_free(pool, one) == NV_OK);
  CHECK(nv_pool_free(pool, many) == NV_OK);
  CHECK(nv_pool_free(pool, numbers) == NV_OK);
  CHECK(nv_pool_is_empty(pool) == 1);
  nv_pool_destroy(pool);

  std::printf("nv_pool.h as C++ (__cplusplus %ld): %s\n",
              static_cast<long>(__cplusplus), failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
