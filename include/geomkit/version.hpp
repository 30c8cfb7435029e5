// geomkit version: the single place the version lives (CMake and the Python package parse it).
#pragma once

#define GEOMKIT_VERSION_MAJOR 0
#define GEOMKIT_VERSION_MINOR 1
#define GEOMKIT_VERSION_PATCH 0

#define GEOMKIT_STRINGIFY_IMPL(x) #x
#define GEOMKIT_STRINGIFY(x) GEOMKIT_STRINGIFY_IMPL(x)
#define GEOMKIT_VERSION_STRING                                                        \
    GEOMKIT_STRINGIFY(GEOMKIT_VERSION_MAJOR)                                          \
    "." GEOMKIT_STRINGIFY(GEOMKIT_VERSION_MINOR) "." GEOMKIT_STRINGIFY(GEOMKIT_VERSION_PATCH)

// 10000 * major + 100 * minor + patch, for #if comparisons.
#define GEOMKIT_VERSION \
    (GEOMKIT_VERSION_MAJOR * 10000 + GEOMKIT_VERSION_MINOR * 100 + GEOMKIT_VERSION_PATCH)
