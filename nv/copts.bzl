"""Compiler flags for libnv's own code (not third-party code)."""

# Warnings are errors in every libnv target, under clang and gcc.
NV_WARNINGS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
]

NV_C_COPTS = NV_WARNINGS + [
    "-std=c11",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wconversion",
    "-Wno-sign-conversion",
]

NV_CXX_TEST_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-std=c++17",
]

# The pool's own sources: its entry points are leaves whose only calls are
# tail calls to the slow paths, so they need no frame of their own; the
# toolchain's -fno-omit-frame-pointer would add a push, a move and a pop to
# every nv_pool_alloc and nv_pool_free (3 of about 34 instructions). Frames
# stay everywhere else, so profilers and sanitizers still walk the stack.
NV_POOL_COPTS = NV_C_COPTS + [
    "-momit-leaf-frame-pointer",
]
