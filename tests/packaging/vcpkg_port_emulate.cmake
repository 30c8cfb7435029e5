# Runs ports/geomkit/portfile.cmake the way `vcpkg install geomkit --overlay-ports=ports`
# would, without the vcpkg tool: the vcpkg helper functions the port calls are stand-ins
# below that do what vcpkg's do for a release-only CMake port, then the installed layout
# gets vcpkg's post-build checks that matter for a header-only package.
#
# cmake -DPORT_DIR=<src>/ports/geomkit -DWORK_DIR=<dir> [-DFEATURES=cuda]
#       [-DCXX_COMPILER=...] [-DGENERATOR=...] -P vcpkg_port_emulate.cmake
# The staged package (what vcpkg copies into installed/<triplet>) is <WORK_DIR>/packages.
cmake_minimum_required(VERSION 3.16)

foreach(var PORT_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "vcpkg_port_emulate.cmake needs -D${var}=...")
  endif()
endforeach()
get_filename_component(PORT_DIR "${PORT_DIR}" ABSOLUTE)
file(REMOVE_RECURSE "${WORK_DIR}")

# The variables vcpkg defines for a portfile.
get_filename_component(PORT "${PORT_DIR}" NAME)
set(TARGET_TRIPLET x64-linux)
set(CURRENT_PACKAGES_DIR "${WORK_DIR}/packages")
set(CURRENT_BUILDTREES_DIR "${WORK_DIR}/buildtrees")
set(CURRENT_PORT_DIR "${PORT_DIR}")
file(READ "${PORT_DIR}/vcpkg.json" _manifest)
string(REGEX MATCH "\"version\"[ \t\r\n]*:[ \t\r\n]*\"([^\"]+)\"" _m "${_manifest}")
set(VERSION "${CMAKE_MATCH_1}")
set(FEATURES core ${FEATURES})

function(_emulate_run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

function(_emulate_no_unparsed fn)
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${fn} was passed extra arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
endfunction()

# vcpkg_check_features: -D<option>=ON for each requested feature, OFF otherwise.
function(vcpkg_check_features)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUT_FEATURE_OPTIONS" "FEATURES;INVERTED_FEATURES")
  _emulate_no_unparsed(vcpkg_check_features)
  if(NOT arg_OUT_FEATURE_OPTIONS)
    message(FATAL_ERROR "vcpkg_check_features: OUT_FEATURE_OPTIONS is required")
  endif()
  set(opts)
  set(pairs ${arg_FEATURES})
  list(LENGTH pairs n)
  math(EXPR odd "${n} % 2")
  if(odd)
    message(FATAL_ERROR "vcpkg_check_features: FEATURES must be <feature> <option> pairs")
  endif()
  while(pairs)
    list(POP_FRONT pairs feature option)
    if(feature IN_LIST FEATURES)
      list(APPEND opts "-D${option}=ON")
    else()
      list(APPEND opts "-D${option}=OFF")
    endif()
  endwhile()
  set(${arg_OUT_FEATURE_OPTIONS} "${opts}" PARENT_SCOPE)
endfunction()

# vcpkg_cmake_configure: the options vcpkg itself adds, then the port's; one release
# configuration when VCPKG_BUILD_TYPE is release, and a debug one into debug/ otherwise
# (which the layout check below then rejects).
function(vcpkg_cmake_configure)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "SOURCE_PATH" "OPTIONS;OPTIONS_RELEASE;OPTIONS_DEBUG")
  _emulate_no_unparsed(vcpkg_cmake_configure)
  set(common
    "-DFETCHCONTENT_FULLY_DISCONNECTED=ON"
    "-DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON"
    "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"
    "-DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON"
    "-DCMAKE_INSTALL_LIBDIR:STRING=lib"
    "-DCMAKE_INSTALL_BINDIR:STRING=bin")
  if(CXX_COMPILER)
    list(APPEND common "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
  endif()
  if(GENERATOR)
    list(APPEND common -G "${GENERATOR}")
  endif()
  set(configs rel)
  if(NOT VCPKG_BUILD_TYPE STREQUAL "release")
    list(APPEND configs dbg)
  endif()
  foreach(cfg ${configs})
    set(dir "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-${cfg}")
    if(cfg STREQUAL "rel")
      set(extra -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}"
                ${arg_OPTIONS_RELEASE})
    else()
      set(extra -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_INSTALL_PREFIX=${CURRENT_PACKAGES_DIR}/debug"
                ${arg_OPTIONS_DEBUG})
    endif()
    message(STATUS "vcpkg_cmake_configure (${cfg}): ${arg_OPTIONS} ${extra}")
    _emulate_run(${CMAKE_COMMAND} -S "${arg_SOURCE_PATH}" -B "${dir}" ${common}
                 ${arg_OPTIONS} ${extra})
  endforeach()
  set_property(GLOBAL PROPERTY _emulate_configs "${configs}")
endfunction()

# vcpkg_cmake_install: build the install target of every configured build tree.
function(vcpkg_cmake_install)
  cmake_parse_arguments(PARSE_ARGV 0 arg "DISABLE_PARALLEL;ADD_BIN_TO_PATH" "" "")
  _emulate_no_unparsed(vcpkg_cmake_install)
  get_property(configs GLOBAL PROPERTY _emulate_configs)
  if(NOT configs)
    message(FATAL_ERROR "vcpkg_cmake_install called before vcpkg_cmake_configure")
  endif()
  foreach(cfg ${configs})
    _emulate_run(${CMAKE_COMMAND} --build "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-${cfg}"
                 --target install)
  endforeach()
endfunction()

# vcpkg_cmake_config_fixup: the CMake config must end up in share/<PACKAGE_NAME>.
function(vcpkg_cmake_config_fixup)
  cmake_parse_arguments(PARSE_ARGV 0 arg "DO_NOT_DELETE_PARENT_CONFIG_PATH;NO_PREFIX_CORRECTION"
                        "PACKAGE_NAME;CONFIG_PATH;TOOLS_PATH" "")
  _emulate_no_unparsed(vcpkg_cmake_config_fixup)
  if(NOT arg_PACKAGE_NAME)
    set(arg_PACKAGE_NAME "${PORT}")
  endif()
  if(NOT arg_CONFIG_PATH)
    set(arg_CONFIG_PATH "share/${arg_PACKAGE_NAME}")
  endif()
  set(from "${CURRENT_PACKAGES_DIR}/${arg_CONFIG_PATH}")
  set(to "${CURRENT_PACKAGES_DIR}/share/${arg_PACKAGE_NAME}")
  if(NOT IS_DIRECTORY "${from}")
    message(FATAL_ERROR "vcpkg_cmake_config_fixup: '${from}' does not exist.")
  endif()
  if(NOT from STREQUAL to)
    file(GLOB files "${from}/*")
    file(MAKE_DIRECTORY "${to}")
    file(COPY ${files} DESTINATION "${to}")
    file(REMOVE_RECURSE "${from}")
  endif()
  file(GLOB configs "${to}/*[Cc]onfig.cmake" "${to}/*-config.cmake")
  if(NOT configs)
    message(FATAL_ERROR "vcpkg_cmake_config_fixup: no *Config.cmake in '${to}'")
  endif()
  file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/${arg_CONFIG_PATH}")
endfunction()

# vcpkg_install_copyright: the licence texts, concatenated, as share/<port>/copyright.
function(vcpkg_install_copyright)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "COMMENT" "FILE_LIST")
  _emulate_no_unparsed(vcpkg_install_copyright)
  set(text "")
  foreach(f ${arg_FILE_LIST})
    if(NOT EXISTS "${f}")
      message(FATAL_ERROR "vcpkg_install_copyright: '${f}' does not exist")
    endif()
    file(READ "${f}" t)
    string(APPEND text "${t}")
  endforeach()
  file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright" "${text}")
endfunction()

function(vcpkg_from_github)
  message(FATAL_ERROR "the in-tree overlay port must build the local checkout, not download")
endfunction()

include("${PORT_DIR}/portfile.cmake")

# vcpkg's post-build checks, as they apply to a header-only package.
set(errors)
set(pkg "${CURRENT_PACKAGES_DIR}")
foreach(f include/geomkit/geomkit.hpp
          share/${PORT}/geomkitConfig.cmake share/${PORT}/geomkitConfigVersion.cmake
          share/${PORT}/geomkitTargets.cmake share/${PORT}/copyright)
  if(NOT EXISTS "${pkg}/${f}")
    list(APPEND errors "missing ${f}")
  endif()
endforeach()
foreach(d lib bin debug)
  if(EXISTS "${pkg}/${d}")
    list(APPEND errors "a header-only package must not install ${d}/")
  endif()
endforeach()
file(GLOB top RELATIVE "${pkg}" "${pkg}/*")
list(REMOVE_ITEM top include share)
if(top)
  list(APPEND errors "unexpected top-level entries: ${top}")
endif()
# Relocatable: nothing installed may name the staging, build or source directories.
get_filename_component(source_dir "${PORT_DIR}/../.." ABSOLUTE)
file(GLOB_RECURSE installed "${pkg}/share/*")
foreach(f ${installed})
  file(READ "${f}" text)
  foreach(abs "${WORK_DIR}" "${source_dir}")
    string(FIND "${text}" "${abs}" at)
    if(NOT at EQUAL -1)
      list(APPEND errors "${f} contains the absolute path ${abs}")
    endif()
  endforeach()
endforeach()
if(EXISTS "${pkg}/share/${PORT}/copyright")
  file(READ "${pkg}/share/${PORT}/copyright" copyright)
  file(READ "${source_dir}/LICENSE" license)
  if(NOT copyright STREQUAL license)
    list(APPEND errors "share/${PORT}/copyright is not the LICENSE text")
  endif()
endif()
# Each requested feature's option reached the build.
file(STRINGS "${CURRENT_BUILDTREES_DIR}/${TARGET_TRIPLET}-rel/CMakeCache.txt" cuda_opt
     REGEX "^GEOMKIT_ENABLE_CUDA:")
if("cuda" IN_LIST FEATURES)
  set(want "GEOMKIT_ENABLE_CUDA:BOOL=ON")
else()
  set(want "GEOMKIT_ENABLE_CUDA:BOOL=OFF")
endif()
if(NOT cuda_opt STREQUAL want)
  list(APPEND errors "features '${FEATURES}' gave '${cuda_opt}', expected '${want}'")
endif()

if(errors)
  list(JOIN errors "\n  " msg)
  message(FATAL_ERROR "port ${PORT} fails vcpkg's checks:\n  ${msg}")
endif()
file(GLOB_RECURSE staged RELATIVE "${pkg}" "${pkg}/share/*")
message(STATUS "port ${PORT} ${VERSION} [${FEATURES}] staged in ${pkg}: include/geomkit/, ${staged}")
