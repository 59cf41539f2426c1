"""Offline stand-in for @rules_java//java:defs.bzl: re-exports Bazel 4's native Java rules.

libnv has no Java; Bazel 4's built-in tool repositories still name
@rules_java, and without this it would try to download it.
"""

def java_binary(**attrs):
    native.java_binary(**attrs)

def java_import(**attrs):
    native.java_import(**attrs)

def java_library(**attrs):
    native.java_library(**attrs)

def java_test(**attrs):
    native.java_test(**attrs)

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)

def java_runtime(**attrs):
    native.java_runtime(**attrs)

def java_proto_library(**attrs):
    native.java_proto_library(**attrs)
