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
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    SYNPREF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SYNPREF_BINARY="$<TARGET_FILE:synpref>")
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 1800)
endfunction()
