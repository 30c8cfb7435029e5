# geomkit is header-only: one release configuration, no lib/, no debug/.
set(VCPKG_BUILD_TYPE release)

# Overlay port kept in the geomkit tree: build from this checkout.
#   vcpkg install geomkit --overlay-ports=<geomkit>/ports
# A registry port fetches a tagged release instead of the line below:
#   vcpkg_from_github(
#       OUT_SOURCE_PATH SOURCE_PATH
#       REPO geomkit/geomkit
#       REF "v${VERSION}"
#       SHA512 <sha512 of the release tarball>
#       HEAD_REF main
#   )
set(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../..")

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        cuda GEOMKIT_ENABLE_CUDA
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DGEOMKIT_INSTALL=ON
        -DGEOMKIT_BUILD_TESTS=OFF
        -DGEOMKIT_BUILD_EXAMPLES=OFF
        -DGEOMKIT_BUILD_BENCHMARKS=OFF
        -DGEOMKIT_BUILD_PYTHON=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME geomkit CONFIG_PATH share/geomkit)

file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug"
    "${CURRENT_PACKAGES_DIR}/lib"
    "${CURRENT_PACKAGES_DIR}/share/doc"
)

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
