# synpref_library(NAME sources... DEPS targets...)
#   One static library per subsystem: synpref_<NAME>, public headers in include/synpref/<NAME>/.
function(synpref_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(synpref_${name} STATIC ${ARG_SOURCES})
  target_include_directories(synpref_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                             PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(synpref_${name} PUBLIC ${ARG_DEPS})
  add_library(synpref::${name} ALIAS synpref_${name})
endfunction()

# synpref_test(NAME sources... LIBS targets... LABELS fast|slow)
#   One-line test registration: a GoogleTest binary registered with CTest. Tests run from the
#   repository root so they can find tests/data and ../shared/data.
function(synpref_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS fast)
  endif()
  # Slow tests run once, in the optimized build; a build with SYNPREF_SLOW_TESTS=OFF (the CI's
  # sanitizer build) keeps their targets (so CMake code naming them still works) but neither builds
  # nor registers them.
  set(exclude "")
  if("slow" IN_LIST ARG_LABELS AND NOT SYNPREF_SLOW_TESTS)
    set(exclude EXCLUDE_FROM_ALL)
  endif()
  add_executable(${name} ${exclude} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    SYNPREF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SYNPREF_BINARY="$<TARGET_FILE:synpref>")
  if(exclude)
    return()
  endif()
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 1800)
endfunction()

# synpref_sources_with_built_deps(OUT files...)
#   Keeps the files whose `#include "synpref/<subsystem>/..."` subsystems are all being built, so
#   a command or benchmark joins its executable exactly when its libraries exist.
function(synpref_sources_with_built_deps out)
  set(kept "")
  foreach(file ${ARGN})
    file(STRINGS ${file} includes REGEX "#include \"synpref/[a-z_]+/")
    set(ok TRUE)
    foreach(line ${includes})
      string(REGEX MATCH "synpref/([a-z_]+)/" _ "${line}")
      if(NOT TARGET synpref_${CMAKE_MATCH_1})
        set(ok FALSE)
      endif()
    endforeach()
    if(ok)
      list(APPEND kept ${file})
    endif()
  endforeach()
  set(${out} ${kept} PARENT_SCOPE)
endfunction()
