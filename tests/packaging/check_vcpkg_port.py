#!/usr/bin/env python3
"""Static checks of ports/geomkit that vcpkg would make when loading the port.

    python3 check_vcpkg_port.py <source dir>

vcpkg.json: the fields vcpkg requires, a version equal to include/geomkit/version.hpp,
the dependencies (host vcpkg-cmake and vcpkg-cmake-config), the cuda feature.
portfile.cmake: the vcpkg helper calls a header-only CMake port makes.
"""
import json
import re
import sys
from pathlib import Path

# Top-level fields of a vcpkg manifest (vcpkg rejects others; "$..." are comments).
KNOWN_FIELDS = {
    "name", "version", "version-semver", "version-date", "version-string", "port-version",
    "description", "homepage", "documentation", "license", "maintainers", "summary",
    "supports", "dependencies", "default-features", "features", "overrides", "builtin-baseline",
    "vcpkg-configuration",
}
VERSION_FIELDS = ("version", "version-semver", "version-date", "version-string")


def dep_name(dep):
    return dep if isinstance(dep, str) else dep.get("name")


def check_manifest(src, errors):
    manifest = json.loads((src / "ports/geomkit/vcpkg.json").read_text())
    for key in manifest:
        if not key.startswith("$") and key not in KNOWN_FIELDS:
            errors.append(f"vcpkg.json: unknown field {key!r}")
    if manifest.get("name") != "geomkit":
        errors.append("vcpkg.json: name must be 'geomkit' (the port directory's name)")
    versions = [f for f in VERSION_FIELDS if f in manifest]
    if len(versions) != 1:
        errors.append(f"vcpkg.json: exactly one of {VERSION_FIELDS} is required, found {versions}")
    header = (src / "include/geomkit/version.hpp").read_text()
    parts = [re.search(rf"#define GEOMKIT_VERSION_{p} (\d+)", header).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    if versions and manifest[versions[0]] != ".".join(parts):
        errors.append(f"vcpkg.json: version {manifest[versions[0]]} is not "
                      f"version.hpp's {'.'.join(parts)}")
    for field in ("description", "license"):
        if not manifest.get(field):
            errors.append(f"vcpkg.json: {field} is required")
    deps = manifest.get("dependencies", [])
    names = [dep_name(d) for d in deps]
    for lib in ("eigen3", "xsimd"):
        if lib not in names:
            errors.append(f"vcpkg.json: dependency {lib} is missing")
    for host in ("vcpkg-cmake", "vcpkg-cmake-config"):
        entry = next((d for d in deps if dep_name(d) == host), None)
        if not isinstance(entry, dict) or entry.get("host") is not True:
            errors.append(f'vcpkg.json: {host} must be a dependency with "host": true')
    if names != sorted(names):
        errors.append("vcpkg.json: dependencies are not sorted (vcpkg format-manifest sorts them)")
    cuda = manifest.get("features", {}).get("cuda")
    if not cuda:
        errors.append("vcpkg.json: features.cuda is missing")
    else:
        if not cuda.get("description"):
            errors.append("vcpkg.json: features.cuda needs a description")
        if "cuda" not in [dep_name(d) for d in cuda.get("dependencies", [])]:
            errors.append("vcpkg.json: features.cuda must depend on the cuda port")


def check_portfile(src, errors):
    text = (src / "ports/geomkit/portfile.cmake").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    flat = " ".join(code.split())
    required = {
        "release-only build": r"set\(VCPKG_BUILD_TYPE release\)",
        "local source directory": r'set\(SOURCE_PATH "\$\{CMAKE_CURRENT_LIST_DIR\}/\.\./\.\."\)',
        "cuda feature mapped to GEOMKIT_ENABLE_CUDA":
            r"vcpkg_check_features\(OUT_FEATURE_OPTIONS FEATURE_OPTIONS FEATURES cuda GEOMKIT_ENABLE_CUDA",
        "vcpkg_cmake_configure": r'vcpkg_cmake_configure\( ?SOURCE_PATH "\$\{SOURCE_PATH\}"',
        "feature options passed": r"OPTIONS \$\{FEATURE_OPTIONS\}",
        "tests off": r"-DGEOMKIT_BUILD_TESTS=OFF",
        "examples off": r"-DGEOMKIT_BUILD_EXAMPLES=OFF",
        "vcpkg_cmake_install": r"vcpkg_cmake_install\(\)",
        "config fixup into share/geomkit":
            r"vcpkg_cmake_config_fixup\(PACKAGE_NAME geomkit CONFIG_PATH share/geomkit\)",
        "debug/ removed": r'file\(REMOVE_RECURSE [^)]*"\$\{CURRENT_PACKAGES_DIR\}/debug"',
        "copyright": r'vcpkg_install_copyright\(FILE_LIST "\$\{SOURCE_PATH\}/LICENSE"\)',
    }
    for what, pattern in required.items():
        if not re.search(pattern, flat):
            errors.append(f"portfile.cmake: {what}: no match for {pattern}")
    if "vcpkg_from_github" in code:
        errors.append("portfile.cmake: the in-tree overlay port must not download its source")
    order = ["vcpkg_cmake_configure", "vcpkg_cmake_install", "vcpkg_cmake_config_fixup",
             "vcpkg_install_copyright"]
    at = [flat.find(f"{f}(") for f in order]
    if -1 not in at and at != sorted(at):
        errors.append(f"portfile.cmake: calls out of order, expected {order}")


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    errors = []
    check_manifest(src, errors)
    check_portfile(src, errors)
    if errors:
        print("ports/geomkit fails the port checks:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    print("ports/geomkit: vcpkg.json and portfile.cmake pass the port checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
