include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GEOMKIT_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/geomkit" CACHE STRING
    "Where geomkitConfig.cmake is installed, relative to the prefix")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/geomkit" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS geomkit EXPORT geomkitTargets)
install(EXPORT geomkitTargets NAMESPACE geomkit:: DESTINATION "${GEOMKIT_CMAKE_DIR}")
if(TARGET geomkit_cuda)
  # geomkit::cuda in its own export set: geomkitConfig.cmake loads it only when present,
  # after finding the CUDA toolkit it links.
  install(TARGETS geomkit_cuda EXPORT geomkitCudaTargets)
  install(EXPORT geomkitCudaTargets NAMESPACE geomkit:: DESTINATION "${GEOMKIT_CMAKE_DIR}")
endif()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/geomkitConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/geomkitConfig.cmake"
  INSTALL_DESTINATION "${GEOMKIT_CMAKE_DIR}")
# A header-only library: the version file must not check the consumer's pointer size.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/geomkitConfigVersion.cmake"
  COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES
  "${PROJECT_BINARY_DIR}/geomkitConfig.cmake"
  "${PROJECT_BINARY_DIR}/geomkitConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/GeomkitDependencies.cmake"
  DESTINATION "${GEOMKIT_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/geomkit")
