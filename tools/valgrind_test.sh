#!/usr/bin/env bash
# Runs one test binary under Valgrind memcheck for `--config=valgrind`.
# Any memcheck error or definite/indirect leak fails the test (exit 1).
# Death tests re-execute the binary (threadsafe style) and run natively:
# the code they exercise aborts on purpose.
export GTEST_DEATH_TEST_STYLE=threadsafe
exec valgrind --quiet --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --track-origins=yes --trace-children=no "$@"
