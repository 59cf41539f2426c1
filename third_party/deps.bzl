"""The repositories libnv needs, all resolved without a network.

A consumer workspace calls libnv_dependencies() once after declaring
@libnv (see docs/build.md). Every rule here skips a repository that the
workspace has already declared, so a consumer with the real rules_cc keeps it.
"""

def _shim_repository_impl(ctx):
    # A two-file repository: an empty BUILD at the package and defs.bzl.
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD.bazel", "")
    ctx.file(ctx.attr.package + "/BUILD.bazel", "")
    ctx.symlink(ctx.attr.defs, ctx.attr.package + "/defs.bzl")

_shim_repository = repository_rule(
    implementation = _shim_repository_impl,
    attrs = {
        "package": attr.string(mandatory = True),
        "defs": attr.label(mandatory = True, allow_single_file = True),
    },
    local = True,
)

def _coverage_stub_impl(ctx):
    # Bazel 4 wires every test rule to @remote_coverage_tools (coverage
    # merger and report generator) even when coverage is off. These targets
    # satisfy the wiring; `bazel coverage` is not used in this project.
    ctx.file("WORKSPACE", "workspace(name = \"remote_coverage_tools\")\n")
    ctx.file("lcov_merger.sh", "#!/bin/sh\necho 'libnv: coverage merging is not available offline' >&2\nexit 1\n", executable = True)
    ctx.file("BUILD.bazel", """
package(default_visibility = ["//visibility:public"])
sh_binary(name = "lcov_merger", srcs = ["lcov_merger.sh"])
sh_binary(name = "coverage_report_generator", srcs = ["lcov_merger.sh"])
filegroup(name = "coverage_output_generator", srcs = ["lcov_merger.sh"])
""")

_coverage_stub = repository_rule(implementation = _coverage_stub_impl, local = True)

def _local_sources_impl(ctx):
    # Debian's `googletest` package ships the sources in /usr/src; Bazel
    # builds them with our BUILD file (new_local_repository would need the
    # BUILD file as a workspace-relative string, which breaks consumers).
    source = ctx.path(ctx.attr.path)
    if not source.exists:
        fail("%s is missing: run tools/bootstrap (it installs Debian's googletest)" % ctx.attr.path)
    for child in source.readdir():
        ctx.symlink(child, child.basename)
    ctx.symlink(ctx.attr.build_file, "BUILD.bazel")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)

_local_sources = repository_rule(
    implementation = _local_sources_impl,
    attrs = {
        "path": attr.string(mandatory = True),
        "build_file": attr.label(mandatory = True, allow_single_file = True),
    },
    local = True,
)

def libnv_dependencies():
    existing = native.existing_rules()
    if "rules_cc" not in existing:
        _shim_repository(
            name = "rules_cc",
            package = "cc",
            defs = Label("//third_party:rules_cc_defs.bzl"),
        )
    if "rules_java" not in existing:
        _shim_repository(
            name = "rules_java",
            package = "java",
            defs = Label("//third_party:rules_java_defs.bzl"),
        )
    if "remote_coverage_tools" not in existing:
        _coverage_stub(name = "remote_coverage_tools")
    if "com_google_googletest" not in existing:
        _local_sources(
            name = "com_google_googletest",
            path = "/usr/src/googletest",
            build_file = Label("//third_party:googletest.BUILD"),
        )
