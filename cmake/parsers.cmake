# The maintained parsers: simdjson (JSON, every binary) and yaml-cpp (modelfn.yaml, the platform
# only), each as one imported target.
#
# Debian's -dev packages of both are not co-installable across architectures, so an arm64 cross
# build on an x86_64 machine finds only the runtime packages (libsimdjson14:arm64,
# libyaml-cpp0.7:arm64): the fallbacks below link the versioned shared object and the
# architecture-independent headers.

find_package(simdjson CONFIG QUIET)
if(TARGET simdjson::simdjson)
  set(MODELFN_SIMDJSON simdjson::simdjson)
else()
  find_library(SIMDJSON_LIBRARY NAMES simdjson libsimdjson.so.14 REQUIRED)
  find_path(SIMDJSON_INCLUDE_DIR simdjson.h REQUIRED)
  add_library(modelfn_simdjson INTERFACE IMPORTED)
  target_link_libraries(modelfn_simdjson INTERFACE ${SIMDJSON_LIBRARY})
  target_include_directories(modelfn_simdjson INTERFACE ${SIMDJSON_INCLUDE_DIR})
  set(MODELFN_SIMDJSON modelfn_simdjson)
endif()

# yaml-cpp is linked statically: the modelfn CLI then needs no extra shared library at run time.
find_library(YAML_CPP_STATIC_LIBRARY NAMES libyaml-cpp.a)
find_path(YAML_CPP_INCLUDE_DIR yaml-cpp/yaml.h)
add_library(modelfn_yaml_cpp INTERFACE IMPORTED)
if(YAML_CPP_STATIC_LIBRARY AND YAML_CPP_INCLUDE_DIR)
  target_link_libraries(modelfn_yaml_cpp INTERFACE ${YAML_CPP_STATIC_LIBRARY})
  target_include_directories(modelfn_yaml_cpp INTERFACE ${YAML_CPP_INCLUDE_DIR})
elseif(CMAKE_CROSSCOMPILING)
  # The cross build makes modelfn-fn and modelfn-bootstrap only, which do not read YAML.
  message(STATUS "yaml-cpp (static) not found for ${CMAKE_SYSTEM_PROCESSOR}: the modelfn CLI "
                 "cannot be built for it")
else()
  message(FATAL_ERROR "yaml-cpp not found: install libyaml-cpp-dev (scripts/setup.sh)")
endif()
