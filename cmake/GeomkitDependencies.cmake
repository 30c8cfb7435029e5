# Finds geomkit's dependencies. Used by the build tree and, installed next to
# geomkitConfig.cmake, by consumers of the installed package. No version pins: any Eigen
# 3.3+ and any xsimd 8.1+ will do.
include(CMakeFindDependencyMacro)

macro(_geomkit_dependency)
  if(CMAKE_FIND_PACKAGE_NAME STREQUAL "geomkit")
    find_dependency(${ARGN})    # inside find_package(geomkit): report, don't abort
  else()
    find_package(${ARGN} REQUIRED)
  endif()
endmacro()

_geomkit_dependency(Threads)
_geomkit_dependency(Eigen3 NO_MODULE)

# Debian's xsimd 8.1 exports a target whose INTERFACE_LINK_LIBRARIES names `xtl`, a
# library that nothing provides (xsimd does not need it). Give that name an empty
# interface target so linking against xsimd works, for our build and for consumers.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED GLOBAL)
endif()
_geomkit_dependency(xsimd)
