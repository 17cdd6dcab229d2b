# durable-rooms for a CMake project: the portable core as a library and one
# function that builds a worker module from your rooms.
#
#   durable_rooms_add_module(<target> SOURCES <file>... [LINK_LIBRARIES <lib>...]
#                            [OUTPUT_DIR <dir>])
#
# Reached through add_subdirectory / FetchContent of a durable-rooms checkout,
# or through find_package(durable_rooms) after `cmake --install` (this same
# file is installed beside the sources it needs: the core, the Wasm bindings
# and the metadata exporter are compiled in the consumer's build, by the
# consumer's toolchain, so one installed package serves the native build of
# your tests and the Emscripten build of your module alike).
#
# Targets:
#   durable_rooms::core  the portable core and the in-memory runtime
#                        (rooms/rooms.h, rooms/module.h, rooms/testing.h);
#                        its include path is the core's only, plus the
#                        header-only dependencies (RapidJSON, Boost.Describe
#                        and Mp11, doctest) as system headers.
#   <target>_rooms       (every build) an OBJECT library of SOURCES linked to
#                        the core and LINK_LIBRARIES: link it into your native
#                        tests.
#   <target>             (Emscripten) the worker module: OUTPUT_DIR/core.mjs
#                        and OUTPUT_DIR/core.wasm, with every flag workerd
#                        needs (no eval, web environment, no
#                        FS, no import.meta, small initial memory, plain C
#                        exports).
#   <target>_metadata    OUTPUT_DIR/rooms.meta.js (room names and JSON
#                        Schemas, for the shim) and OUTPUT_DIR/rooms.d.ts
#                        (TypeScript of every room's schemas). Under
#                        Emscripten it is part of ALL: the same objects are
#                        linked a second time as a node program
#                        (<target>_meta.cjs, -sENVIRONMENT=node -sNODERAWFS)
#                        and node runs it; there is no host compiler in a
#                        cross build, and linking the same objects twice
#                        costs one link, not a second build. In a native
#                        build it is a native program, built on request
#                        (`cmake --build . --target <target>_metadata`).
#
# SOURCES must hold exactly one ROOMS_MODULE(...) (rooms/module.h): the
# registry the module serves. OUTPUT_DIR defaults to
# ${CMAKE_CURRENT_BINARY_DIR}/<target>; relative paths are taken from
# CMAKE_CURRENT_BINARY_DIR.
include_guard(GLOBAL)
cmake_minimum_required(VERSION 3.21)

get_filename_component(_durable_rooms_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set_property(GLOBAL PROPERTY DURABLE_ROOMS_ROOT "${_durable_rooms_root}")

# Header-only dependencies. An installed package carries its own copies
# (<prefix>/share/durable_rooms/vendor); a checkout takes Debian's
# (rapidjson-dev, doctest-dev, libboost1.81-dev). They are copied into the
# build tree so the Wasm build never puts /usr/include (glibc headers) on its
# include path. Of Boost, only Describe and its dependency Mp11.
if(EXISTS "${_durable_rooms_root}/vendor/rapidjson")
  set(_durable_rooms_default_include "${_durable_rooms_root}/vendor")
else()
  set(_durable_rooms_default_include "/usr/include")
endif()
set(RAPIDJSON_ROOT "${_durable_rooms_default_include}" CACHE PATH "Directory holding rapidjson/")
set(DOCTEST_ROOT "${_durable_rooms_default_include}" CACHE PATH "Directory holding doctest/")
set(BOOST_ROOT_DIR "${_durable_rooms_default_include}" CACHE PATH "Directory holding boost/describe and boost/mp11")
set(DURABLE_ROOMS_VENDOR_DIR "${CMAKE_BINARY_DIR}/durable_rooms_vendor")
foreach(dep rapidjson doctest)
  string(TOUPPER ${dep} DEP)
  if(NOT EXISTS "${${DEP}_ROOT}/${dep}")
    message(FATAL_ERROR "durable-rooms: ${dep} headers not found under ${${DEP}_ROOT} (Debian: rapidjson-dev, doctest-dev; or set ${DEP}_ROOT)")
  endif()
  file(COPY "${${DEP}_ROOT}/${dep}" DESTINATION "${DURABLE_ROOMS_VENDOR_DIR}")
endforeach()
foreach(part describe describe.hpp mp11 mp11.hpp)
  if(NOT EXISTS "${BOOST_ROOT_DIR}/boost/${part}")
    message(FATAL_ERROR "durable-rooms: boost/${part} not found under ${BOOST_ROOT_DIR} (Debian: libboost1.81-dev; or set BOOST_ROOT_DIR)")
  endif()
  file(COPY "${BOOST_ROOT_DIR}/boost/${part}" DESTINATION "${DURABLE_ROOMS_VENDOR_DIR}/boost")
endforeach()
set_property(GLOBAL PROPERTY DURABLE_ROOMS_VENDOR_DIR "${DURABLE_ROOMS_VENDOR_DIR}")

# durable_rooms_core_library(<name>): the core as a static library. The
# project's own tests make a second one with exceptions for the Wasm suite.
function(durable_rooms_core_library name)
  get_property(root GLOBAL PROPERTY DURABLE_ROOMS_ROOT)
  get_property(vendor GLOBAL PROPERTY DURABLE_ROOMS_VENDOR_DIR)
  set(src "${root}/wasm/core/src")
  add_library(${name} STATIC
    ${src}/effects.cpp ${src}/errors.cpp ${src}/json.cpp ${src}/registry.cpp ${src}/schema.cpp ${src}/testing.cpp
    ${src}/runtime/alarm.cpp ${src}/runtime/facades.cpp ${src}/runtime/limits.cpp ${src}/runtime/liveness.cpp
    ${src}/runtime/presence.cpp ${src}/runtime/resume.cpp ${src}/runtime/runtime.cpp ${src}/runtime/selection.cpp)
  # include/: the author's API (rooms/rooms.h, rooms/module.h, rooms/testing.h).
  # src/: the runtime's insides, for the library, the Wasm bindings and
  # durable-rooms' own tests of them; a room author never includes them.
  target_include_directories(${name} PUBLIC "${root}/wasm/core/include")
  target_include_directories(${name} PRIVATE "${src}")
  target_include_directories(${name} SYSTEM PUBLIC "${vendor}")
  target_compile_features(${name} PUBLIC cxx_std_20)
  set_target_properties(${name} PROPERTIES CXX_EXTENSIONS OFF)
  if(DURABLE_ROOMS_BUILD_TESTS)  # durable-rooms' own builds; a consumer's build stays quiet about the core
    target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-deprecated-declarations -Wno-missing-field-initializers)
  endif()
  if(EMSCRIPTEN)
    # libc++ 13 ships <experimental/coroutine> only; clang 14 warns about it.
    target_compile_options(${name} PUBLIC -Wno-deprecated-experimental-coroutine)
    # -O2, also in Release builds (after CMake's -O3, so it wins): as fast
    # per event as -O3 (bench/micro.mjs) and a smaller module; and a build
    # without CMAKE_BUILD_TYPE would otherwise make an -O0 core.
    target_compile_options(${name} PRIVATE $<$<CONFIG:,Release>:-O2>)
  endif()
endfunction()

# For durable-rooms' own test of the starter only (scripts/starter-proof.sh):
# DURABLE_ROOMS_PREBUILT_DIR (environment) names a durable-rooms build/ whose
# native/ and wasm/ trees already compiled this same core with the same
# toolchains, so the starter links that libdurable_rooms_core.a instead of
# compiling the core again. Not for general use: nothing checks that the
# flags match.
set(_durable_rooms_prebuilt "")
if(DEFINED ENV{DURABLE_ROOMS_PREBUILT_DIR})
  if(EMSCRIPTEN)
    set(_durable_rooms_prebuilt "$ENV{DURABLE_ROOMS_PREBUILT_DIR}/wasm/libdurable_rooms_core.a")
  else()
    set(_durable_rooms_prebuilt "$ENV{DURABLE_ROOMS_PREBUILT_DIR}/native/libdurable_rooms_core.a")
  endif()
  if(NOT EXISTS "${_durable_rooms_prebuilt}")
    message(FATAL_ERROR "DURABLE_ROOMS_PREBUILT_DIR: ${_durable_rooms_prebuilt} not found")
  endif()
endif()
if(NOT TARGET durable_rooms_core AND _durable_rooms_prebuilt)
  add_library(durable_rooms_core STATIC IMPORTED GLOBAL)
  set_target_properties(durable_rooms_core PROPERTIES IMPORTED_LOCATION "${_durable_rooms_prebuilt}")
  target_include_directories(durable_rooms_core INTERFACE "${_durable_rooms_root}/wasm/core/include")
  target_include_directories(durable_rooms_core SYSTEM INTERFACE "${DURABLE_ROOMS_VENDOR_DIR}")
  target_compile_features(durable_rooms_core INTERFACE cxx_std_20)
  if(EMSCRIPTEN)
    target_compile_options(durable_rooms_core INTERFACE -Wno-deprecated-experimental-coroutine)
  endif()
  add_library(durable_rooms::core ALIAS durable_rooms_core)
elseif(NOT TARGET durable_rooms_core)
  durable_rooms_core_library(durable_rooms_core)
  add_library(durable_rooms::core ALIAS durable_rooms_core)
endif()

function(durable_rooms_add_module target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_DIR" "SOURCES;LINK_LIBRARIES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "durable_rooms_add_module(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "durable_rooms_add_module(${target}): SOURCES is required (your rooms and the file with ROOMS_MODULE)")
  endif()
  if(NOT arg_OUTPUT_DIR)
    set(arg_OUTPUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  endif()
  get_filename_component(out "${arg_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  get_property(root GLOBAL PROPERTY DURABLE_ROOMS_ROOT)

  add_library(${target}_rooms OBJECT ${arg_SOURCES})
  target_link_libraries(${target}_rooms PUBLIC durable_rooms::core ${arg_LINK_LIBRARIES})
  add_executable(${target}_meta "${root}/tools/export_schemas.cpp")
  target_link_libraries(${target}_meta PRIVATE ${target}_rooms)

  if(EMSCRIPTEN)
    target_compile_options(${target}_rooms PRIVATE $<$<CONFIG:,Release>:-O2>)
    add_executable(${target} "${root}/wasm/bindings/bindings.cpp")
    target_link_libraries(${target} PRIVATE ${target}_rooms)
    target_include_directories(${target} PRIVATE "${root}/wasm/core/src")
    target_compile_options(${target} PRIVATE $<$<CONFIG:,Release>:-O2>)
    # Every flag workerd needs (platform notes, sections 5-7).
    target_link_options(${target} PRIVATE
      -O2
      -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createCore -sUSE_ES6_IMPORT_META=0
      -sENVIRONMENT=web -sDYNAMIC_EXECUTION=0 -sFILESYSTEM=0 -sASSERTIONS=0
      -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=512KB -sTOTAL_STACK=64KB
      -sEXPORTED_FUNCTIONS=_malloc,_free -sEXPORTED_RUNTIME_METHODS=HEAPU8)
    set_target_properties(${target} PROPERTIES OUTPUT_NAME core SUFFIX ".mjs" RUNTIME_OUTPUT_DIRECTORY "${out}")

    # -O0: the exporter runs once per build; optimising its link (wasm-opt)
    # took longer than the module's own.
    target_link_options(${target}_meta PRIVATE
      -O0 -sENVIRONMENT=node -sNODERAWFS=1 -sWASM_ASYNC_COMPILATION=0 -sALLOW_MEMORY_GROWTH=1 -sEXIT_RUNTIME=1)
    set_target_properties(${target}_meta PROPERTIES SUFFIX ".cjs")
    find_program(DURABLE_ROOMS_NODE node)
    if(NOT DURABLE_ROOMS_NODE)
      message(FATAL_ERROR "durable_rooms_add_module: node not found (it runs ${target}_meta.cjs to write rooms.meta.js)")
    endif()
    set(run "${DURABLE_ROOMS_NODE}" "$<TARGET_FILE:${target}_meta>")
    set(all ALL)
  else()
    set_target_properties(${target}_meta PROPERTIES EXCLUDE_FROM_ALL ON)
    set(run "$<TARGET_FILE:${target}_meta>")
    set(all "")
  endif()
  add_custom_command(
    OUTPUT "${out}/rooms.meta.js" "${out}/rooms.d.ts"
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${out}"
    COMMAND ${run} --out-dir "${out}"
    DEPENDS ${target}_meta
    COMMENT "durable-rooms: ${target} metadata (rooms.meta.js, rooms.d.ts)"
    VERBATIM)
  add_custom_target(${target}_metadata ${all} DEPENDS "${out}/rooms.meta.js" "${out}/rooms.d.ts")
endfunction()
