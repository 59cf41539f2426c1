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
