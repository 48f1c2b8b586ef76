# modelfn_library(NAME SRCS ... DEPS ...): a module's library target, aliased modelfn::NAME.
function(modelfn_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(modelfn_${name} STATIC ${ARG_SRCS})
  add_library(modelfn::${name} ALIAS modelfn_${name})
  target_include_directories(modelfn_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(modelfn_${name} PUBLIC ${ARG_DEPS})
endfunction()

# modelfn_test(NAME SRCS ... DEPS ...): a GoogleTest binary registered with ctest.
function(modelfn_test name)
  if(NOT MODELFN_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE MODELFN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  include(GoogleTest)
  # Scratch files of the tests (testing::TempDir()) go under the build tree, not /tmp.
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/test-tmp)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30
                       PROPERTIES ENVIRONMENT "TEST_TMPDIR=${CMAKE_BINARY_DIR}/test-tmp")
endfunction()
