# Cross-compiling modelfn-fn and modelfn-bootstrap for linux-aarch64 (Lambda arm64) on an x86_64
# Debian: g++-aarch64-linux-gnu, and arm64 libraries from Debian's multiarch (libssl-dev:arm64,
# libcurl4-openssl-dev:arm64, zlib1g-dev:arm64, libsqlite3-dev:arm64, libsimdjson14:arm64, libexpat1-dev:arm64,
# libjpeg62-turbo-dev:arm64, libpng-dev:arm64, libwebp-dev:arm64, libcsv-dev:arm64; see
# cmake/parsers.cmake).
# scripts/setup.sh installs them; scripts/build.sh --arch arm64 uses this file.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (FindCURL, FindOpenSSL) must read the arm64 .pc files, not the build machine's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
