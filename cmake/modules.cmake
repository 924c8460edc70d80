# Helpers shared by every module. A module is one directory under src/ and one static library.
# Sources are globbed, so adding a file to a module needs no CMake edit.

set(MLXM_WARNINGS -Wall -Wextra -Werror)
if(MLXM_FUZZ)
  # Instrument everything for coverage; fuzz targets link the libFuzzer driver (tests/fuzz).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(MLXM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # GCC 12 + sanitizers report a false -Wmismatched-new-delete in Boost.Asio coroutine frames.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-mismatched-new-delete)
  endif()
  add_link_options(-fsanitize=address,undefined)
endif()

# mlxm_uses_std_regex(<sources>...): GCC 12 with -fsanitize reports a false
# -Wmaybe-uninitialized inside libstdc++'s <regex> (std::function in regex_automaton.h), so
# sources that include <regex> build without that warning in sanitizer builds only. Call it from
# the CMakeLists.txt of the directory that adds the sources.
function(mlxm_uses_std_regex)
  if(MLXM_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS -Wno-maybe-uninitialized)
  endif()
endfunction()

# mlxm_add_module(NAME DIR <dir> [DEPS ...] [EXCLUDE_REGEX <regex>])
# Builds target mlxm_<NAME> from <dir>/**/*.cpp; include root is src/.
function(mlxm_add_module name)
  cmake_parse_arguments(M "" "DIR;EXCLUDE_REGEX" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${M_DIR}/*.cpp)
  if(M_EXCLUDE_REGEX)
    list(FILTER srcs EXCLUDE REGEX "${M_EXCLUDE_REGEX}")
  endif()
  if(NOT srcs)  # a module whose sources are not written yet: headers only
    add_library(mlxm_${name} INTERFACE)
    target_include_directories(mlxm_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(mlxm_${name} INTERFACE ${M_DEPS})
    return()
  endif()
  add_library(mlxm_${name} STATIC ${srcs})
  target_include_directories(mlxm_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(mlxm_${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${MLXM_WARNINGS}>)
  target_link_libraries(mlxm_${name} PUBLIC ${M_DEPS})
endfunction()

# mlxm_add_test_suite(NAME DIR <dir> LABEL <label> [EXCLUDE_REGEX <regex>] DEPS ...)
# One gtest binary per test directory: tests/<dir>/**/*_test.cpp, registered with ctest.
function(mlxm_add_test_suite name)
  cmake_parse_arguments(T "" "DIR;LABEL;EXCLUDE_REGEX" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${T_DIR}/*_test.cpp)
  if(T_EXCLUDE_REGEX)
    list(FILTER srcs EXCLUDE REGEX "${T_EXCLUDE_REGEX}")
  endif()
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE ${MLXM_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    MLXM_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MLXM_BINARY_DIR="${CMAKE_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${T_LABEL} SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
