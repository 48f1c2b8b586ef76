# The text tokenizer: src/pipeline/tokenizer (Rust, the `tokenizers` crate) built by cargo into
# ${CMAKE_BINARY_DIR}/cargo as a static library, and the imported target modelfn_tokenizer_rs.
# ON when cargo is found and the build is native; OFF for cross builds (no Rust std for the
# target here) or without cargo: then MODELFN_HAVE_TOKENIZER is OFF, MODELFN_TOKENIZER_WHY says
# why, and a function refuses text inputs at load (pipeline_unsupported).
# MODELFN_TOKENIZER_LIB: a libmodelfn_tokenizer.a already built (the sanitizer build links the
# release build's rather than compiling the crate a second time).
option(MODELFN_TOKENIZER "Build the text tokenizer (needs cargo)" ON)
set(MODELFN_TOKENIZER_LIB "" CACHE FILEPATH "A prebuilt libmodelfn_tokenizer.a to link")
find_program(CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")

set(MODELFN_HAVE_TOKENIZER OFF)
if(NOT MODELFN_TOKENIZER)
  set(MODELFN_TOKENIZER_WHY "configured with -DMODELFN_TOKENIZER=OFF")
elseif(CMAKE_CROSSCOMPILING)
  set(MODELFN_TOKENIZER_WHY "a cross build for ${CMAKE_SYSTEM_PROCESSOR}: no Rust standard library for it")
elseif(MODELFN_TOKENIZER_LIB)
  if(NOT EXISTS "${MODELFN_TOKENIZER_LIB}")
    message(FATAL_ERROR "MODELFN_TOKENIZER_LIB=${MODELFN_TOKENIZER_LIB} does not exist")
  endif()
  set(MODELFN_HAVE_TOKENIZER ON)
  add_library(modelfn_tokenizer_rs STATIC IMPORTED GLOBAL)
  set_target_properties(modelfn_tokenizer_rs PROPERTIES IMPORTED_LOCATION "${MODELFN_TOKENIZER_LIB}")
elseif(NOT CARGO_EXECUTABLE)
  set(MODELFN_TOKENIZER_WHY "cargo was not found when it was configured")
else()
  set(MODELFN_HAVE_TOKENIZER ON)
  set(_crate "${CMAKE_SOURCE_DIR}/src/pipeline/tokenizer")
  set(_lib "${CMAKE_BINARY_DIR}/cargo/release/libmodelfn_tokenizer.a")
  add_custom_command(
    OUTPUT "${_lib}"
    COMMAND ${CMAKE_COMMAND} -E env "CARGO_TARGET_DIR=${CMAKE_BINARY_DIR}/cargo"
            "${CARGO_EXECUTABLE}" build --release --locked --quiet -j2
            --manifest-path "${_crate}/Cargo.toml"
    DEPENDS "${_crate}/Cargo.toml" "${_crate}/Cargo.lock" "${_crate}/src/lib.rs"
    COMMENT "cargo build (src/pipeline/tokenizer)"
    USES_TERMINAL)
  add_custom_target(modelfn_tokenizer_cargo DEPENDS "${_lib}")
  add_library(modelfn_tokenizer_rs STATIC IMPORTED GLOBAL)
  set_target_properties(modelfn_tokenizer_rs PROPERTIES IMPORTED_LOCATION "${_lib}")
  add_dependencies(modelfn_tokenizer_rs modelfn_tokenizer_cargo)
endif()
if(MODELFN_HAVE_TOKENIZER)
  # What a Rust static library needs from the system (cargo's --print native-static-libs).
  set_property(TARGET modelfn_tokenizer_rs PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads dl m)
  message(STATUS "text tokenizer: on")
else()
  message(STATUS "text tokenizer: off (${MODELFN_TOKENIZER_WHY})")
endif()
